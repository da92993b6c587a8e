//! `edge-ui --render-png`: the binary renders a state file without any display.

use std::process::Command;

use edge_ui::render::Frame;

use crate::support::key_states;

#[test]
fn render_png_writes_the_state_at_the_requested_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, state, _) = key_states().remove(1);
    let state_path = dir.path().join("state.json");
    std::fs::write(
        &state_path,
        serde_json::to_string_pretty(&state).expect("json"),
    )
    .expect("write");
    let out = dir.path().join("out.png");
    let status = Command::new(env!("CARGO_BIN_EXE_edge-ui"))
        .arg("--render-png")
        .arg(&out)
        .arg("--state")
        .arg(&state_path)
        .args(["--size", "800x480"])
        .status()
        .expect("run edge-ui");
    assert!(status.success());
    let frame = Frame::from_png(&std::fs::read(&out).expect("png written")).expect("decode");
    assert_eq!((frame.width, frame.height), (800, 480));
    assert!(
        frame.rgb.chunks_exact(3).any(|p| p == [0xc6, 0x28, 0x28]),
        "booked red shows"
    );
}

#[test]
fn a_bad_state_file_fails_with_a_message_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_path = dir.path().join("state.json");
    std::fs::write(&state_path, r#"{"now": "yesterday"}"#).expect("write");
    let out = dir.path().join("out.png");
    let output = Command::new(env!("CARGO_BIN_EXE_edge-ui"))
        .arg("--render-png")
        .arg(&out)
        .arg("--state")
        .arg(&state_path)
        .output()
        .expect("run edge-ui");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a screen state"), "{stderr}");
    assert!(!out.exists());
    let bad_size = Command::new(env!("CARGO_BIN_EXE_edge-ui"))
        .args([
            "--render-png",
            "x.png",
            "--state",
            "s.json",
            "--size",
            "big",
        ])
        .output()
        .expect("run edge-ui");
    assert!(!bad_size.status.success());
    assert!(String::from_utf8_lossy(&bad_size.stderr).contains("expected WIDTHxHEIGHT"));
}

#[test]
fn the_readmes_demo_state_renders_with_the_english_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo.png");
    let status = Command::new(env!("CARGO_BIN_EXE_edge-ui"))
        .arg("--render-png")
        .arg(&out)
        .arg("--state")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/demo-state.json"))
        .args(["--lang", "en"])
        .output()
        .expect("run edge-ui");
    assert!(status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(!stderr.contains("no such translation"), "{stderr}");
    let frame = Frame::from_png(&std::fs::read(&out).expect("png written")).expect("decode");
    let booked = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/booked.png"
    ))
    .expect("reference");
    let difference = frame
        .difference(&Frame::from_png(&booked).expect("decode reference"))
        .expect("same size");
    assert!(
        difference.mean_channel < 1.0,
        "the demo state is the booked state, in English: {difference:?}"
    );
}
