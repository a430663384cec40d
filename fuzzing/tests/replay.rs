//! Every file of every committed fuzz corpus (`fuzz/corpus/<target>/`),
//! crashes found once included, through its target: fast, on stable, in CI.

use std::path::Path;

#[test]
fn every_corpus_replays() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in pakiti_fuzzing::TARGETS {
        let dir = root.join(name);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}: every target has a corpus", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!files.is_empty(), "{name}: an empty corpus");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", f.display());
        }
    }
}
