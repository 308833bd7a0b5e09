//! Cross-cloud moves as SkyPilot tasks: the cheapest feasible placements of a request written as
//! a SkyPilot task YAML (`resources.any_of`, one entry per choice with `use_spot`), for the user
//! to launch with `sky launch` (costmill does not launch it: it cannot know the job's data and
//! set-up). SkyPilot's optimizer then picks among exactly the choices costmill ranked.
use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::placement::Choice;

#[derive(Debug, Serialize)]
struct Task {
    name: String,
    /// Nodes of the cluster (SkyPilot `num_nodes`).
    num_nodes: u64,
    resources: Resources,
}

#[derive(Debug, Serialize)]
struct Resources {
    any_of: Vec<Candidate>,
}

#[derive(Debug, Serialize)]
struct Candidate {
    cloud: String,
    region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    instance_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    accelerators: Option<BTreeMap<String, serde_yaml::Value>>,
    use_spot: bool,
}

/// The task YAML for `choices` (best first; SkyPilot considers them all), on `num_nodes` nodes.
pub fn task_yaml(name: &str, choices: &[Choice], num_nodes: u64) -> String {
    let any_of = choices
        .iter()
        .map(|c| Candidate {
            cloud: c.offer.provider.clone(),
            region: c.offer.region.clone(),
            zone: c.offer.zone.clone(),
            instance_type: c.offer.instance_type.clone(),
            accelerators: c.offer.accelerator.as_ref().map(|a| {
                // Whole counts as integers; Azure's fractional GPUs (`A10: 0.5`) as numbers.
                let count = match (
                    a.count.fract().is_zero(),
                    a.count.to_u64(),
                    a.count.to_f64(),
                ) {
                    (true, Some(n), _) => serde_yaml::Value::from(n),
                    (_, _, Some(f)) => serde_yaml::Value::from(f),
                    _ => serde_yaml::Value::from(a.count.to_string()),
                };
                BTreeMap::from([(a.name.clone(), count)])
            }),
            use_spot: c.spot,
        })
        .collect();
    let task = Task {
        name: name.to_string(),
        num_nodes: num_nodes.max(1),
        resources: Resources { any_of },
    };
    let yaml = serde_yaml::to_string(&task).unwrap_or_default();
    format!(
        "# Written by costmill: the cheapest feasible placements, best first, for `sky launch`.\n\
         # Add `setup:` and `run:` for your job.\n{yaml}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Accelerator, Offer};
    use rust_decimal::Decimal;

    fn offer(
        provider: &str,
        instance_type: &str,
        zone: Option<&str>,
        gpus: Option<(&str, &str)>,
    ) -> Offer {
        Offer {
            provider: provider.into(),
            instance_type: instance_type.into(),
            vcpus: Decimal::from(8),
            memory_gib: Decimal::from(32),
            accelerator: gpus.map(|(name, count)| Accelerator {
                name: name.into(),
                count: count.parse().unwrap(),
            }),
            region: "us-east-1".into(),
            zone: zone.map(Into::into),
            on_demand_hourly_usd: Some(Decimal::ONE),
            spot_hourly_usd: Some(Decimal::new(3, 1)),
            gcp_parts: None,
        }
    }

    #[test]
    fn each_choice_is_one_any_of_entry_with_its_market() {
        let a = offer("aws", "g5.2xlarge", Some("us-east-1b"), Some(("A10G", "1")));
        let b = offer(
            "azure",
            "Standard_NV12ads_A10_v5",
            None,
            Some(("A10", "0.5")),
        );
        let choices = [
            Choice {
                offer: &a,
                spot: true,
                hourly_usd: Decimal::new(3, 1),
            },
            Choice {
                offer: &b,
                spot: false,
                hourly_usd: Decimal::ONE,
            },
        ];
        let text = task_yaml("train", &choices, 2);
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(doc["name"], "train");
        assert_eq!(doc["num_nodes"], 2);
        let any_of = doc["resources"]["any_of"].as_sequence().unwrap();
        assert_eq!(any_of.len(), 2);
        assert_eq!(any_of[0]["cloud"], "aws");
        assert_eq!(any_of[0]["zone"], "us-east-1b");
        assert_eq!(any_of[0]["instance_type"], "g5.2xlarge");
        assert_eq!(any_of[0]["use_spot"], true);
        assert_eq!(any_of[0]["accelerators"]["A10G"], 1);
        assert!(
            any_of[1].get("zone").is_none(),
            "Azure has no zones in the catalog"
        );
        assert_eq!(any_of[1]["use_spot"], false);
        assert_eq!(any_of[1]["accelerators"]["A10"], 0.5);
    }
}
