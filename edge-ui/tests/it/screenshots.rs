//! Screenshots of the key states, compared with the reviewed PNGs in `tests/reference/` within a
//! tolerance (font rasterisation may move a few pixels between machines). Regenerate with
//! `UPDATE_REFERENCE_IMAGES=1 cargo test -p edge-ui --test it screenshots` and look at every
//! changed PNG before committing it. A failing run leaves the actual images in the target
//! directory (`edge-ui-screenshots/`), named like the references.

use std::path::PathBuf;

use edge_ui::render::{Frame, Headless, Size};

use crate::support::{at, key_states, schedule, state};

/// Mean per-channel difference allowed (0..=255).
const MAX_MEAN_CHANNEL: f64 = 1.0;
/// Share of pixels allowed to differ clearly.
const MAX_DIFFERING_PIXELS: f64 = 0.005;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

fn actual_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("edge-ui-screenshots")
}

#[test]
fn key_states_match_the_reference_images() {
    let headless = Headless::install().expect("headless platform");
    let update = std::env::var_os("UPDATE_REFERENCE_IMAGES").is_some_and(|v| v != "0");
    std::fs::create_dir_all(actual_dir()).expect("actual dir");
    let mut failures = Vec::new();
    for (name, state, size) in key_states() {
        let frame = headless.render_state(&state, size).expect("render");
        assert_eq!((frame.width, frame.height), (size.width, size.height));
        let png = frame.to_png().expect("png");
        let reference = reference_dir().join(format!("{name}.png"));
        if update {
            std::fs::write(&reference, &png).expect("write reference");
            continue;
        }
        std::fs::write(actual_dir().join(format!("{name}.png")), &png).expect("write actual");
        let expected = std::fs::read(&reference)
            .map_err(|e| e.to_string())
            .and_then(|b| Frame::from_png(&b).map_err(|e| e.to_string()));
        match expected.map(|e| frame.difference(&e)) {
            Ok(Some(d))
                if d.mean_channel <= MAX_MEAN_CHANNEL
                    && d.differing_pixels <= MAX_DIFFERING_PIXELS => {}
            other => failures.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "screenshots differ from tests/reference (actual images in {}): {failures:#?}",
        actual_dir().display()
    );
}

fn pixel(frame: &Frame, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * frame.width + x) * 3) as usize;
    [frame.rgb[i], frame.rgb[i + 1], frame.rgb[i + 2]]
}

#[test]
fn the_status_panel_takes_the_status_colour() {
    let headless = Headless::install().expect("headless platform");
    let cases = [
        (at(12, 10), [0x2e, 0x7d, 0x32]),
        (at(10, 25), [0xc6, 0x28, 0x28]),
        (at(9, 53), [0xe6, 0x95, 0x00]),
    ];
    for (now, colour) in cases {
        let frame = headless
            .render_state(&state(now, schedule()), Size::TABLET)
            .expect("render");
        assert_eq!(pixel(&frame, 8, 300), colour);
        assert_eq!(
            pixel(&frame, 1270, 790),
            [0xf8, 0xf9, 0xfa],
            "timeline background"
        );
    }
}
