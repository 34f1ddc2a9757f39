//! The exported EfficientNet-Lite0, run by native ONNX Runtime, recognises a real cat photo.

use std::path::PathBuf;

use app::vision::{Labels, NativeClassifier, RgbaFrame};

/// ImageNet's domestic and wild cat classes: tabby, tiger cat, Persian, Siamese, Egyptian cat.
const CAT_CLASSES: std::ops::RangeInclusive<u32> = 281..=285;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

#[test]
fn the_sample_cat_photo_is_classified_as_a_cat() {
    let labels =
        Labels::from_json(&std::fs::read_to_string(models().join("imagenet_labels.json")).unwrap()).unwrap();
    assert_eq!(labels.len(), 1000);
    let classifier = NativeClassifier::load(
        &models().join("onnxruntime/libonnxruntime.so"),
        &models().join("efficientnet_lite0.onnx"),
        labels,
    )
    .unwrap();

    let photo = image::open(models().join("samples/chelsea.png")).unwrap().to_rgba8();
    let frame = RgbaFrame::new(photo.width(), photo.height(), photo.as_raw()).unwrap();
    let best = classifier.classify(&frame, 3).unwrap();

    assert!(CAT_CLASSES.contains(&best[0].index), "top class is {best:?}");
    assert!(best[0].category_name.contains("cat") || best[0].category_name.contains("tabby"), "{best:?}");
    let cat_score: f32 = best.iter().filter(|c| CAT_CLASSES.contains(&c.index)).map(|c| c.score).sum();
    assert!(cat_score > 0.5, "the cat classes only score {cat_score}: {best:?}");
    assert!(best.windows(2).all(|w| w[0].score >= w[1].score), "not ranked: {best:?}");
}
