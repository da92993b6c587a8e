//! Compiles the Slint UI. Debug info is always emitted so that element look-ups by id work in
//! the UI tests (the same as building with `SLINT_EMIT_DEBUG_INFO=1`); translations are bundled
//! from `translations/<lang>/LC_MESSAGES/edge-ui.po` (English is the source language).

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_debug_info(true)
        .with_bundled_translations("translations");
    if let Err(e) = slint_build::compile_with_config("ui/app.slint", config) {
        println!("cargo::error=slint compilation failed: {e}");
        std::process::exit(1);
    }
}
