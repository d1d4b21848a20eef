//! Answer normalisation: no input panics; every preset gives what it promises
//! and is stable (its output normalised again is itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use uic::core::normalize::{self, Cleaner, Normalizer};

fuzz_target!(|input: &str| {
    for name in ["trim", "fold", "upper", "letters", "digits", "alnum", "number", "number_in_text"] {
        let _ = Normalizer::from_name(name).unwrap().apply(input);
    }
    let _ = normalize::clean_all(&[Cleaner::Typography, Cleaner::LookAlikes], input);
    for preset in ["name", "place", "code", "number", "text", "none"] {
        let pipeline = Normalizer::preset(preset).unwrap();
        let once = normalize::apply_all(&pipeline, input);
        assert_eq!(normalize::apply_all(&pipeline, &once), once, "preset {preset} is not stable on {input:?}");
    }
    let name = normalize::apply_all(&Normalizer::preset("name").unwrap(), input);
    assert!(name.bytes().all(|b| b.is_ascii_uppercase()), "{input:?} → {name:?}");
});
