//! A policy rule that misbehaves as its config says: `{"mode": "spin"}`
//! loops, `"hog"` eats memory, `"trap"` panics, `"allow"` allows. The
//! policy tests check that each misbehaviour becomes a deny.

use tgw_rule_sdk::{Decision, Guest, Proposal};

struct HostileRule;

impl Guest for HostileRule {
    fn evaluate(config_json: String, _proposal: Proposal) -> Decision {
        let config: serde_json::Value = serde_json::from_str(&config_json).unwrap_or_default();
        match config["mode"].as_str() {
            Some("spin") => loop {
                std::hint::black_box(());
            },
            Some("hog") => {
                let mut hoard = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("trap") => panic!("a rule that panics"),
            _ => Decision::Allow("the hostile rule allows everything".into()),
        }
    }
}

tgw_rule_sdk::export!(HostileRule);
