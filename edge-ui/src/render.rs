//! Headless rendering with Slint's software renderer: a window that lives only in memory, drawn
//! into an RGB buffer and encoded as PNG. Used by `edge-ui --render-png`, the screenshot tests
//! and the benchmark, so all three draw exactly what the tablet draws.
//!
//! Slint's platform is per thread: [`Headless::install`] claims the current thread once; one
//! window at a time lives on it.

use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, Rgb8Pixel};

use crate::controller::Controller;
use crate::screen::Screen;
use crate::state::{Frozen, RenderState};

/// Why a frame could not be produced or read.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// This thread already has a Slint platform (another backend or a second install).
    #[error("this thread already has a Slint platform")]
    PlatformTaken,
    /// Slint could not create the window.
    #[error("slint: {0}")]
    Slint(#[from] slint::PlatformError),
    /// The window did not draw (nothing was shown).
    #[error("the window drew nothing")]
    NothingDrawn,
    /// PNG encoding failed.
    #[error("png encoding: {0}")]
    Encode(#[from] png::EncodingError),
    /// PNG decoding failed.
    #[error("png decoding: {0}")]
    Decode(#[from] png::DecodingError),
    /// The PNG is not 8-bit RGB.
    #[error("expected an 8-bit RGB PNG")]
    Format,
    /// A size is not `WIDTHxHEIGHT`.
    #[error("bad size {0:?}: expected WIDTHxHEIGHT, e.g. 1280x800")]
    Size(String),
}

/// A screen size in physical pixels (scale factor 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Size {
    /// The 10" landscape tablet.
    pub const TABLET: Size = Size {
        width: 1280,
        height: 800,
    };
    /// The small device screen.
    pub const DEVICE: Size = Size {
        width: 800,
        height: 480,
    };
}

impl FromStr for Size {
    type Err = RenderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RenderError::Size(s.to_owned());
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let width: u32 = w.trim().parse().map_err(|_| bad())?;
        let height: u32 = h.trim().parse().map_err(|_| bad())?;
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(bad());
        }
        Ok(Size { width, height })
    }
}

/// An RGB image: what was drawn, or a PNG read back for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB bytes.
    pub rgb: Vec<u8>,
}

/// How far two frames are apart, for screenshot tolerances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// Mean absolute difference per channel (0..=255).
    pub mean_channel: f64,
    /// Share of pixels with a channel off by more than 32 (0..=1).
    pub differing_pixels: f64,
}

impl Frame {
    /// Encodes as an 8-bit RGB PNG.
    pub fn to_png(&self) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.rgb)?;
        writer.finish()?;
        Ok(out)
    }

    /// Decodes an 8-bit RGB PNG (as written by [`Frame::to_png`]).
    pub fn from_png(bytes: &[u8]) -> Result<Self, RenderError> {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info()?;
        let mut rgb = vec![0; reader.output_buffer_size().ok_or(RenderError::Format)?];
        let info = reader.next_frame(&mut rgb)?;
        if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
            return Err(RenderError::Format);
        }
        rgb.truncate(info.buffer_size());
        Ok(Self {
            width: info.width,
            height: info.height,
            rgb,
        })
    }

    /// Compares with another frame; `None` when the sizes differ.
    pub fn difference(&self, other: &Frame) -> Option<Difference> {
        if (self.width, self.height) != (other.width, other.height)
            || self.rgb.len() != other.rgb.len()
        {
            return None;
        }
        let total: u64 = self
            .rgb
            .iter()
            .zip(&other.rgb)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let differing = self
            .rgb
            .chunks_exact(3)
            .zip(other.rgb.chunks_exact(3))
            .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 32))
            .count();
        let pixels = (self.rgb.len() / 3).max(1);
        Some(Difference {
            mean_channel: total as f64 / self.rgb.len().max(1) as f64,
            differing_pixels: differing as f64 / pixels as f64,
        })
    }
}

struct HeadlessPlatform {
    window: Rc<MinimalSoftwareWindow>,
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    /// Time stands still, so a render never depends on when it ran.
    fn duration_since_start(&self) -> core::time::Duration {
        core::time::Duration::ZERO
    }
}

/// The current thread's in-memory window.
pub struct Headless {
    window: Rc<MinimalSoftwareWindow>,
}

impl Headless {
    /// Makes this thread's Slint platform an in-memory software-rendered window.
    pub fn install() -> Result<Self, RenderError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        slint::platform::set_platform(Box::new(HeadlessPlatform {
            window: window.clone(),
        }))
        .map_err(|_| RenderError::PlatformTaken)?;
        Ok(Self { window })
    }

    /// Sets the window's size.
    pub fn resize(&self, size: Size) {
        self.window
            .set_size(PhysicalSize::new(size.width, size.height));
    }

    /// Draws the shown window into a new frame.
    pub fn draw(&self) -> Result<Frame, RenderError> {
        slint::platform::update_timers_and_animations();
        let size = self.window.size();
        let (width, height) = (size.width, size.height);
        let stride = usize::try_from(width).map_err(|_| RenderError::NothingDrawn)?;
        let rows = usize::try_from(height).map_err(|_| RenderError::NothingDrawn)?;
        let mut pixels = vec![Rgb8Pixel::new(0, 0, 0); stride * rows];
        self.window.request_redraw();
        let drawn = self.window.draw_if_needed(|renderer| {
            renderer.render(&mut pixels, stride);
        });
        if !drawn {
            return Err(RenderError::NothingDrawn);
        }
        let rgb = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
        Ok(Frame { width, height, rgb })
    }

    /// Renders a state at `size`: the controller, screen and window the tablet would use, with
    /// the agent and the clock frozen at the state's values.
    pub fn render_state(&self, state: &RenderState, size: Size) -> Result<Frame, RenderError> {
        let screen = self.show_state(state, size)?;
        let frame = self.draw();
        screen.window().hide()?;
        frame
    }

    /// Shows a state at `size` and returns the live screen (for re-render measurements).
    pub fn show_state(
        &self,
        state: &RenderState,
        size: Size,
    ) -> Result<Screen<Frozen>, RenderError> {
        let controller = Controller::with_action(state.agent(), state.action.clone());
        let screen = Screen::new(controller, Arc::new(state.clock()))?;
        self.resize(size);
        screen.window().show()?;
        screen.refresh();
        Ok(screen)
    }
}
