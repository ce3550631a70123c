//! The teacher must reproduce sentence-transformers (PyTorch) on the reference sentences:
//! 12 languages plus the edge cases (empty, whitespace, emoji, CJK, special-token text, over-length).

mod common;

use glossa::encoder::cosine;
use glossa::Encoder;

#[test]
fn teacher_matches_sentence_transformers_reference() {
    let path = common::shared_dir().join("reference/all-MiniLM-L6-v2/sentences.jsonl");
    let (sentences, expected) = common::read_reference(&path);
    assert!(
        sentences.len() >= 50,
        "reference file has {} sentences",
        sentences.len()
    );
    let teacher = common::teacher();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = teacher.encode(&refs).unwrap();
    assert_eq!(got.len(), sentences.len());
    let mut worst = (1.0f32, String::new());
    for (i, want) in expected.iter().enumerate() {
        let c = cosine(got.row(i), want);
        if c < worst.0 {
            worst = (c, sentences[i].chars().take(60).collect());
        }
    }
    println!("worst cosine {:.6} on {:?}", worst.0, worst.1);
    assert!(
        worst.0 >= 0.9999,
        "cosine {} < 0.9999 for {:?}",
        worst.0,
        worst.1
    );

    // Batching must not change a sentence's vector: one at a time gives the same.
    for i in [0, refs.len() / 2, refs.len() - 1] {
        let alone = teacher.encode(&refs[i..=i]).unwrap();
        assert!(cosine(alone.row(0), got.row(i)) > 0.99999);
    }
}
