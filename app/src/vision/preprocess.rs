use super::VisionError;

/// Side of the square image the model takes.
pub const INPUT_SIZE: usize = 224;

/// A borrowed RGBA image, the layout a browser canvas (`getImageData`) produces.
#[derive(Clone, Copy, Debug)]
pub struct RgbaFrame<'a> {
    width: u32,
    height: u32,
    pixels: &'a [u8],
}

impl<'a> RgbaFrame<'a> {
    /// Wraps `pixels` (4 bytes per pixel, row by row), checking that the size adds up.
    pub fn new(width: u32, height: u32, pixels: &'a [u8]) -> Result<Self, VisionError> {
        let expected = width as usize * height as usize * 4;
        if width == 0 || height == 0 || pixels.len() != expected {
            return Err(VisionError::FrameSize { width, height, expected, actual: pixels.len() });
        }
        Ok(Self { width, height, pixels })
    }

    fn channel(&self, x: usize, y: usize, c: usize) -> f32 {
        f32::from(self.pixels[(y * self.width as usize + x) * 4 + c])
    }
}

/// How a model lays out its input image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Planar: all of red, then green, then blue (`[N, 3, H, W]`, ONNX's convention).
    Nchw,
    /// Interleaved: red, green and blue of each pixel together (`[N, H, W, 3]`, TFLite's).
    Nhwc,
}

impl Layout {
    /// The input's shape for one image.
    pub fn shape(self) -> [usize; 4] {
        match self {
            Self::Nchw => [1, 3, INPUT_SIZE, INPUT_SIZE],
            Self::Nhwc => [1, INPUT_SIZE, INPUT_SIZE, 3],
        }
    }

    fn index(self, channel: usize, y: usize, x: usize) -> usize {
        match self {
            Self::Nchw => channel * INPUT_SIZE * INPUT_SIZE + y * INPUT_SIZE + x,
            Self::Nhwc => (y * INPUT_SIZE + x) * 3 + channel,
        }
    }
}

/// Turns a frame into the model's input: the centre square, resized to [`INPUT_SIZE`]² with
/// bilinear sampling, as RGB in `layout` (without the batch axis) normalised to
/// `(pixel − 127) / 128`.
pub fn to_input_tensor(frame: &RgbaFrame<'_>, layout: Layout) -> Vec<f32> {
    let (width, height) = (frame.width as usize, frame.height as usize);
    let side = width.min(height);
    let (left, top) = ((width - side) / 2, (height - side) / 2);
    let scale = side as f32 / INPUT_SIZE as f32;
    let mut tensor = vec![0.0; 3 * INPUT_SIZE * INPUT_SIZE];

    let axis = |out: usize, offset: usize| {
        let source = ((out as f32 + 0.5) * scale - 0.5).clamp(0.0, (side - 1) as f32);
        let low = source.floor() as usize;
        let high = (low + 1).min(side - 1);
        (offset + low, offset + high, source - low as f32)
    };
    for out_y in 0..INPUT_SIZE {
        let (y0, y1, wy) = axis(out_y, top);
        for out_x in 0..INPUT_SIZE {
            let (x0, x1, wx) = axis(out_x, left);
            for c in 0..3 {
                let upper = frame.channel(x0, y0, c) * (1.0 - wx) + frame.channel(x1, y0, c) * wx;
                let lower = frame.channel(x0, y1, c) * (1.0 - wx) + frame.channel(x1, y1, c) * wx;
                let value = upper * (1.0 - wy) + lower * wy;
                tensor[layout.index(c, out_y, out_x)] = (value - 127.0) / 128.0;
            }
        }
    }
    tensor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, rgba: [u8; 4]) -> Vec<u8> {
        rgba.repeat((width * height) as usize)
    }

    #[test]
    fn rejects_a_buffer_of_the_wrong_size() {
        let pixels = vec![0; 10];
        assert!(matches!(RgbaFrame::new(2, 2, &pixels), Err(VisionError::FrameSize { expected: 16, .. })));
        assert!(RgbaFrame::new(0, 0, &[]).is_err());
    }

    #[test]
    fn normalises_each_channel_into_its_own_plane() {
        let pixels = solid(300, 200, [255, 127, 0, 255]);
        let tensor = to_input_tensor(&RgbaFrame::new(300, 200, &pixels).unwrap(), Layout::Nchw);
        let plane = INPUT_SIZE * INPUT_SIZE;
        assert_eq!(tensor.len(), 3 * plane);
        assert!(tensor[..plane].iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(tensor[plane..2 * plane].iter().all(|&v| v.abs() < 1e-6));
        assert!(tensor[2 * plane..].iter().all(|&v| (v + 127.0 / 128.0).abs() < 1e-6));
    }

    #[test]
    fn interleaves_channels_for_nhwc_with_the_same_values() {
        let pixels: Vec<u8> = (0..64u32 * 48 * 4).map(|i| (i * 7 % 251) as u8).collect();
        let frame = RgbaFrame::new(64, 48, &pixels).unwrap();
        let (planar, interleaved) =
            (to_input_tensor(&frame, Layout::Nchw), to_input_tensor(&frame, Layout::Nhwc));
        let plane = INPUT_SIZE * INPUT_SIZE;
        for (pixel, rgb) in interleaved.chunks(3).enumerate() {
            for (c, &value) in rgb.iter().enumerate() {
                assert_eq!(value, planar[c * plane + pixel]);
            }
        }
    }

    #[test]
    fn keeps_only_the_centre_square() {
        // A wide frame: black left and right thirds, white centre third.
        let (width, height) = (600u32, 200u32);
        let mut pixels = Vec::new();
        for _ in 0..height {
            for x in 0..width {
                let v = if (200..400).contains(&x) { 255 } else { 0 };
                pixels.extend_from_slice(&[v, v, v, 255]);
            }
        }
        let tensor = to_input_tensor(&RgbaFrame::new(width, height, &pixels).unwrap(), Layout::Nchw);
        assert!(tensor[..INPUT_SIZE * INPUT_SIZE].iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }
}
