//! Node cost to workloads on a hand-computed case: CPU/RAM split, max(request, usage), idle.
use allocator::kubernetes::{expand, KubernetesConfig, NodeDay, PodDay, PRICE_SOURCE};
use allocator::{allocate, AllocationConfig, CostGroup, Matcher, OwnerValue, Rule};
use queries::Dec18;

const ONE: i128 = 1_000_000_000_000_000_000;
const DAY: i128 = 86_400;
const GIB: i128 = 1 << 30;

fn node(name: &str, provider_id: &str, instance_type: &str, cores: i128, gib: i128) -> NodeDay {
    NodeDay {
        day: 20_000,
        cluster: "prod-eu".into(),
        node: name.into(),
        provider_id: provider_id.into(),
        instance_type: instance_type.into(),
        cpu_core_seconds: Dec18(cores * DAY * ONE),
        memory_byte_seconds: Dec18(gib * GIB * DAY * ONE),
        gpu_seconds: Dec18(0),
        seconds: 86_400,
    }
}

/// Cores and GiB are max(request, usage), already taken by the SQL aggregation.
fn pod(node: &str, namespace: &str, app: &str, cores_milli: i128, gib: i128) -> PodDay {
    PodDay {
        day: 20_000,
        cluster: "prod-eu".into(),
        node: node.into(),
        namespace: namespace.into(),
        workload: format!("deployment/{app}"),
        label_keys: vec!["app".into()],
        label_values: vec![app.into()],
        cpu_core_seconds: Dec18(cores_milli * DAY * ONE / 1000),
        memory_byte_seconds: Dec18(gib * GIB * DAY * ONE),
        gpu_seconds: Dec18(0),
    }
}

fn billing_row(resource_id: &str, dollars: i128) -> CostGroup {
    CostGroup {
        day: 20_000,
        provider: "AWS".into(),
        service_name: "Amazon Elastic Compute Cloud".into(),
        resource_id: resource_id.into(),
        charge_category: "Usage".into(),
        billed: Dec18(dollars * ONE),
        effective: Dec18(dollars * ONE),
        rows: 24,
        ..CostGroup::default()
    }
}

fn config(share_idle: bool) -> KubernetesConfig {
    // Equal weight for 2 cores and 8 GiB: the node's cost splits half CPU, half RAM.
    KubernetesConfig {
        cpu_core_hourly: "1".into(),
        ram_gib_hourly: "0.25".into(),
        share_idle,
        ..KubernetesConfig::default()
    }
}

fn rules() -> AllocationConfig {
    AllocationConfig {
        rules: vec![
            Rule {
                name: "payments-namespace".into(),
                when: Matcher {
                    namespace: Some("payments".into()),
                    ..Matcher::default()
                },
                service: OwnerValue::FromTags {
                    tag: vec!["app".into()],
                    default: None,
                },
                team: Some(OwnerValue::Literal("payments".into())),
                env: None,
            },
            Rule {
                name: "labels".into(),
                when: Matcher::default(),
                service: OwnerValue::FromTags {
                    tag: vec!["app".into()],
                    default: None,
                },
                team: None,
                env: None,
            },
        ],
        ..AllocationConfig::default()
    }
}

fn dollars(d: Dec18) -> String {
    d.to_string()
}

#[test]
fn node_cost_goes_to_workloads_by_max_of_request_and_usage_and_the_rest_is_idle() {
    let nodes = vec![
        node("ip-10-0-1-1", "aws:///eu-west-1a/i-0abc", "m5.large", 2, 8),
        node("ip-10-0-1-2", "aws:///eu-west-1a/i-0def", "m5.large", 2, 8),
        node("on-prem-1", "", "m5.large", 2, 8),
    ];
    let pods = vec![
        pod("ip-10-0-1-1", "payments", "ledger", 1000, 4),
        pod("ip-10-0-1-1", "search", "indexer", 500, 2),
    ];
    let groups = vec![
        billing_row("arn:aws:ec2:eu-west-1:123:instance/i-0abc", 10),
        billing_row("arn:aws:rds:eu-west-1:123:db/orders", 7),
    ];
    let mut k8s = config(false);
    let expanded = expand(&k8s, groups.clone(), &nodes, &pods);
    // i-0def has no billing row and m5.large has no configured price.
    assert_eq!(expanded.unpriced_node_days, 2);
    let allocations = allocate(&rules(), &expanded.groups, &[]);
    let find = |service: &str| allocations.iter().find(|a| a.service == service).unwrap();
    // CPU $5: ledger 1 core, indexer 0.5, idle 0.5 of 2. RAM $5: ledger 4 GiB, indexer 2, idle 2 of 8.
    assert_eq!(dollars(find("ledger").effective), "5");
    assert_eq!(find("ledger").team, "payments");
    assert_eq!(
        find("ledger").input_ref,
        "k8s://prod-eu/payments/deployment/ledger"
    );
    assert_eq!(dollars(find("indexer").effective), "2.5");
    assert_eq!(expanded.idle.len(), 1);
    assert_eq!(dollars(expanded.idle[0].effective), "2.5");
    assert_eq!(expanded.idle[0].input_ref, "prod-eu/ip-10-0-1-1");
    assert_eq!(
        expanded.idle[0].cost_source,
        "AWS / Amazon Elastic Compute Cloud"
    );
    // The non-node billing row passes through untouched.
    assert!(expanded
        .groups
        .iter()
        .any(|g| g.resource_id == "arn:aws:rds:eu-west-1:123:db/orders"));

    // Shared idle goes to the node's workloads by their cost: 2.5 × 5/7.5 and 2.5 × 2.5/7.5.
    let shared = expand(&config(true), groups.clone(), &nodes, &pods);
    assert!(shared.idle.is_empty());
    let allocations = allocate(&rules(), &shared.groups, &[]);
    let total = |service: &str| {
        Dec18(
            allocations
                .iter()
                .filter(|a| a.service == service)
                .map(|a| a.effective.0)
                .sum(),
        )
    };
    assert_eq!(dollars(total("ledger")), "6.666666666666666667");
    assert_eq!(dollars(total("indexer")), "3.333333333333333333");

    // A configured price covers nodes without billing rows: $0.096/h for a day.
    k8s.instance_prices
        .insert("m5.large".into(), "0.096".into());
    let priced = expand(&k8s, groups, &nodes, &pods);
    assert_eq!(priced.unpriced_node_days, 0);
    let price_idle: Vec<_> = priced
        .idle
        .iter()
        .filter(|a| a.cost_source.starts_with(PRICE_SOURCE))
        .collect();
    assert_eq!(price_idle.len(), 2);
    assert!(price_idle.iter().all(|a| dollars(a.effective) == "2.304"));
}

#[test]
fn each_currency_of_a_node_is_split_on_its_own_and_prices_carry_their_currency() {
    let nodes = vec![
        node("ip-10-0-1-1", "aws:///eu-west-1a/i-0abc", "m5.large", 2, 8),
        node("on-prem-1", "", "m5.large", 2, 8),
    ];
    let pods = vec![
        pod("ip-10-0-1-1", "payments", "ledger", 1000, 4),
        pod("on-prem-1", "search", "indexer", 500, 2),
    ];
    let mut eur = billing_row("arn:aws:ec2:eu-west-1:123:instance/i-0abc", 20);
    eur.currency = "EUR".into();
    let mut usd = billing_row("arn:aws:ec2:eu-west-1:123:instance/i-0abc", 10);
    usd.currency = "USD".into();
    let mut k8s = config(false);
    k8s.instance_prices
        .insert("m5.large".into(), "0.096".into());
    k8s.currency = "CHF".into();
    assert!(k8s.problems().is_empty(), "{:?}", k8s.problems());
    let out = expand(&k8s, vec![eur, usd], &nodes, &pods);
    let ledger: Vec<(String, String)> = out
        .groups
        .iter()
        .filter(|g| g.resource_id.ends_with("/ledger"))
        .map(|g| (g.currency.clone(), dollars(g.effective)))
        .collect();
    // Half of each currency's CPU and RAM cost: 10 EUR, 5 USD — never 15 of anything.
    assert_eq!(
        ledger,
        [
            ("EUR".to_string(), "10".to_string()),
            ("USD".to_string(), "5".to_string())
        ]
    );
    let idle: Vec<(String, String)> = out
        .idle
        .iter()
        .map(|a| (a.currency.clone(), dollars(a.effective)))
        .collect();
    assert_eq!(
        idle,
        [
            ("EUR".to_string(), "10".to_string()),
            ("USD".to_string(), "5".to_string()),
            ("CHF".to_string(), "1.728".to_string())
        ]
    );
    let indexer = out
        .groups
        .iter()
        .find(|g| g.resource_id.ends_with("/indexer"))
        .unwrap();
    assert_eq!(
        (indexer.currency.as_str(), indexer.provider.as_str()),
        ("CHF", PRICE_SOURCE)
    );

    k8s.currency = "euro".into();
    assert_eq!(
        k8s.problems(),
        [(
            "allocation.kubernetes.currency".to_string(),
            "`euro` is not a currency code like USD or EUR".to_string()
        )]
    );
}
