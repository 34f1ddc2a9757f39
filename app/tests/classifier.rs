//! The exported EfficientNet-Lite0, run by native ONNX Runtime, recognises a real cat photo, and
//! its float16-weight copy for browsers answers as it does.

use std::path::PathBuf;

use app::vision::{Labels, NativeClassifier, RgbaFrame};

/// ImageNet's domestic and wild cat classes: tabby, tiger cat, Persian, Siamese, Egyptian cat.
const CAT_CLASSES: std::ops::RangeInclusive<u32> = 281..=285;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn classifier(model: &str) -> NativeClassifier {
    let labels =
        Labels::from_json(&std::fs::read_to_string(models().join("imagenet_labels.json")).unwrap()).unwrap();
    assert_eq!(labels.len(), 1000);
    NativeClassifier::load(&models().join("onnxruntime/libonnxruntime.so"), &models().join(model), labels)
        .unwrap()
}

fn classify(
    classifier: &NativeClassifier,
    photo: &std::path::Path,
    k: usize,
) -> Vec<app::protocol::Category> {
    let photo = image::open(photo).unwrap().to_rgba8();
    let frame = RgbaFrame::new(photo.width(), photo.height(), photo.as_raw()).unwrap();
    classifier.classify(&frame, k).unwrap()
}

#[test]
fn the_sample_cat_photo_is_classified_as_a_cat() {
    let best = classify(&classifier("efficientnet_lite0.onnx"), &models().join("samples/chelsea.png"), 3);

    assert!(CAT_CLASSES.contains(&best[0].index), "top class is {best:?}");
    assert!(best[0].category_name.contains("cat") || best[0].category_name.contains("tabby"), "{best:?}");
    let cat_score: f32 = best.iter().filter(|c| CAT_CLASSES.contains(&c.index)).map(|c| c.score).sum();
    assert!(cat_score > 0.5, "the cat classes only score {cat_score}: {best:?}");
    assert!(best.windows(2).all(|w| w[0].score >= w[1].score), "not ranked: {best:?}");
}

#[test]
fn the_float16_weights_browsers_get_answer_as_the_float32_model_on_every_sample_photo() {
    let (full, half) = (classifier("efficientnet_lite0.onnx"), classifier("efficientnet_lite0.f16.onnx"));
    let mut photos: Vec<_> = std::fs::read_dir(models().join("samples/photos"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    photos.sort();
    assert!(photos.len() >= 20, "scikit-image's sample photos: {photos:?}");
    for photo in &photos {
        let (a, b) = (classify(&full, photo, 5), classify(&half, photo, 5));
        assert_eq!(a[0].index, b[0].index, "{}: {a:?} vs {b:?}", photo.display());
        for (x, y) in a.iter().zip(&b) {
            assert!((x.score - y.score).abs() < 0.01, "{}: {a:?} vs {b:?}", photo.display());
        }
    }
}
