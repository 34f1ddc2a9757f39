//! Pictures from the page: a photo or the current video frame as a scaled-down `ImageBitmap` (for
//! the model's worker), and a reusable canvas that draws one and hands out a JPEG of it.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement, HtmlVideoElement, ImageBitmap,
    ImageBitmapOptions,
};

/// What a frame is drawn from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A decoded image.
    Image(&'a HtmlImageElement),
    /// The frame a video element currently shows.
    Video(&'a HtmlVideoElement),
}

impl Source<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            Self::Image(image) => (image.natural_width(), image.natural_height()),
            Self::Video(video) => (video.video_width(), video.video_height()),
        }
    }

    /// The size it is drawn at: its longer side scaled down to at most `max_side` pixels;
    /// `None` while it has no picture yet.
    fn scaled(&self, max_side: u32) -> Option<(u32, u32)> {
        let (width, height) = self.size();
        if width == 0 || height == 0 {
            return None;
        }
        let scale = (f64::from(max_side) / f64::from(width.max(height))).min(1.0);
        Some((
            ((f64::from(width) * scale).round() as u32).max(1),
            ((f64::from(height) * scale).round() as u32).max(1),
        ))
    }

    /// The picture as an `ImageBitmap` scaled down to at most `max_side` pixels, made by the
    /// browser off the page's script; `None` while there is no picture yet.
    pub async fn bitmap(&self, max_side: u32) -> Result<Option<ImageBitmap>, String> {
        let Some((width, height)) = self.scaled(max_side) else { return Ok(None) };
        let options = ImageBitmapOptions::new();
        options.set_resize_width(width);
        options.set_resize_height(height);
        let window = leptos::prelude::window();
        let promise =
            match self {
                Self::Image(image) => window
                    .create_image_bitmap_with_html_image_element_and_image_bitmap_options(image, &options),
                Self::Video(video) => window
                    .create_image_bitmap_with_html_video_element_and_image_bitmap_options(video, &options),
            }
            .map_err(js)?;
        Ok(Some(JsFuture::from(promise).await.map_err(js)?.unchecked_into()))
    }
}

fn js(error: JsValue) -> String {
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

/// An off-screen canvas, kept between frames.
pub struct Canvas {
    element: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
}

impl Canvas {
    /// A new, empty canvas.
    pub fn new() -> Result<Self, String> {
        let element: HtmlCanvasElement =
            leptos::prelude::document().create_element("canvas").map_err(js)?.unchecked_into();
        let context =
            element.get_context("2d").map_err(js)?.ok_or("this browser has no 2D canvas")?.unchecked_into();
        Ok(Self { element, context })
    }

    /// Draws `source` with its longer side scaled down to at most `max_side` pixels; returns
    /// the drawn size, or `None` while the source has no picture yet.
    pub fn draw(&self, source: Source<'_>, max_side: u32) -> Result<Option<(u32, u32)>, String> {
        let Some((width, height)) = source.scaled(max_side) else { return Ok(None) };
        if (self.element.width(), self.element.height()) != (width, height) {
            self.element.set_width(width);
            self.element.set_height(height);
        }
        let (w, h) = (f64::from(width), f64::from(height));
        match source {
            Source::Image(image) => {
                self.context.draw_image_with_html_image_element_and_dw_and_dh(image, 0.0, 0.0, w, h)
            }
            Source::Video(video) => {
                self.context.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, w, h)
            }
        }
        .map_err(js)?;
        Ok(Some((width, height)))
    }

    /// The canvas element itself (e.g. to stream what is drawn on it).
    pub fn element(&self) -> HtmlCanvasElement {
        self.element.clone()
    }

    /// What was last drawn as a JPEG `data:` URL of at most `max_bytes` (before base64), if
    /// one fits.
    pub fn jpeg(&self, max_bytes: usize) -> Option<String> {
        [0.7, 0.4].into_iter().find_map(|quality| {
            let url =
                self.element.to_data_url_with_type_and_encoder_options("image/jpeg", &quality.into()).ok()?;
            (url.len() <= max_bytes * 4 / 3).then_some(url)
        })
    }
}
