//! Each split method on small hand-computed cases, and conservation on random inputs.
use std::collections::BTreeMap;

use allocator::config::{MissingMetric, UNALLOCATED};
use allocator::{
    allocate, Allocation, AllocationConfig, CostGroup, Matcher, MetricValue, OwnerValue, Pool,
    PoolMethod, Rule,
};
use proptest::prelude::*;
use queries::Dec18;
use rust_decimal::Decimal;

const DOLLAR: i128 = 1_000_000_000_000_000_000;

fn row(day: u16, service_name: &str, tags: &[(&str, &str)], dollars: i128) -> CostGroup {
    CostGroup {
        day,
        provider: "AWS".into(),
        service_name: service_name.into(),
        service_category: "Compute".into(),
        sub_account_id: "123".into(),
        sub_account_name: "prod".into(),
        resource_id: format!("res-{service_name}-{}", tags.len()),
        charge_category: "Usage".into(),
        currency: "USD".into(),
        tag_keys: tags.iter().map(|(k, _)| k.to_string()).collect(),
        tag_values: tags.iter().map(|(_, v)| v.to_string()).collect(),
        billed: Dec18(dollars * DOLLAR),
        effective: Dec18(dollars * DOLLAR),
        rows: 1,
        k8s_namespace: String::new(),
        charge_period: String::new(),
    }
}

fn in_currency(mut g: CostGroup, currency: &str) -> CostGroup {
    g.currency = currency.into();
    g
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn tag_rules() -> Vec<Rule> {
    vec![Rule {
        name: "tagged".into(),
        when: Matcher::default(),
        service: OwnerValue::FromTags {
            tag: vec!["service".into(), "app".into()],
            default: None,
        },
        team: Some(OwnerValue::FromTags {
            tag: vec!["team".into()],
            default: Some("unknown-team".into()),
        }),
        env: Some(OwnerValue::FromTags {
            tag: vec!["env".into()],
            default: None,
        }),
    }]
}

fn pool(name: &str, from: &str, method: PoolMethod, targets: &[&str]) -> Pool {
    Pool {
        name: name.into(),
        when: Matcher::default(),
        from_service: Some(from.into()),
        method,
        targets: targets.iter().map(|s| s.to_string()).collect(),
        metric: None,
        missing_metric: MissingMetric::Previous,
        shares: BTreeMap::new(),
    }
}

/// Effective dollars per service (as text, exact).
fn by_service(allocations: &[Allocation]) -> BTreeMap<String, String> {
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    for a in allocations {
        *sums.entry(a.service.clone()).or_default() += a.effective.0;
    }
    sums.into_iter()
        .map(|(s, v)| (s, Dec18(v).to_string()))
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn first_matching_rule_wins_tags_fall_back_and_the_rest_is_unallocated() {
    let mut rules = vec![Rule {
        name: "kafka".into(),
        when: Matcher {
            service_name: Some("Amazon Managed*".into()),
            ..Matcher::default()
        },
        service: OwnerValue::Literal("kafka".into()),
        team: Some(OwnerValue::Literal("platform".into())),
        env: None,
    }];
    rules.extend(tag_rules());
    let config = AllocationConfig {
        rules,
        pools: vec![],
        ..AllocationConfig::default()
    };
    let groups = vec![
        row(
            0,
            "Amazon Managed Streaming for Apache Kafka",
            &[("service", "ignored")],
            10,
        ),
        row(0, "Amazon EC2", &[("app", "cart"), ("team", "checkout")], 5),
        row(0, "Amazon EC2", &[("team", "checkout")], 7),
    ];
    let out = allocate(&config, &groups, &[]);
    assert_eq!(
        by_service(&out),
        expect(&[("cart", "5"), ("kafka", "10"), (UNALLOCATED, "7")])
    );
    let cart = out.iter().find(|a| a.service == "cart").unwrap();
    assert_eq!(
        (cart.team.as_str(), cart.kind.as_str(), cart.method.as_str()),
        ("checkout", "direct", "rule:tagged")
    );
    let kafka = out.iter().find(|a| a.service == "kafka").unwrap();
    assert_eq!(
        (kafka.team.as_str(), kafka.method.as_str()),
        ("platform", "rule:kafka")
    );
}

#[test]
fn even_split_puts_the_residue_on_one_deterministic_owner() {
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![pool("kafka", "kafka", PoolMethod::Even, &["a", "b", "c"])],
        ..AllocationConfig::default()
    };
    let groups = vec![row(0, "MSK", &[("service", "kafka")], 100)];
    let out = allocate(&config, &groups, &[]);
    assert_eq!(
        by_service(&out),
        expect(&[
            ("a", "33.333333333333333334"),
            ("b", "33.333333333333333333"),
            ("c", "33.333333333333333333")
        ])
    );
    assert!(out
        .iter()
        .all(|a| a.kind == "pool" && a.pool == "kafka" && a.method == "even"));
    assert!(out
        .iter()
        .all(|a| a.share == Dec18(333_333_333_333_333_333)));
}

#[test]
fn weighted_split_follows_the_targets_direct_cost() {
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![pool("db", "db", PoolMethod::Weighted, &["a", "b"])],
        ..AllocationConfig::default()
    };
    let groups = vec![
        row(0, "RDS", &[("service", "db")], 8),
        row(0, "EC2", &[("service", "a")], 30),
        row(0, "EC2", &[("service", "b")], 10),
    ];
    assert_eq!(
        by_service(&allocate(&config, &groups, &[])),
        expect(&[("a", "36"), ("b", "12")])
    );
}

#[test]
fn fixed_split_uses_the_configured_percentages() {
    let mut p = pool("cache", "cache", PoolMethod::Fixed, &[]);
    p.shares = [("a".to_string(), dec("60")), ("b".to_string(), dec("40"))].into();
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![p],
        ..AllocationConfig::default()
    };
    let groups = vec![row(0, "ElastiCache", &[("service", "cache")], 50)];
    assert_eq!(
        by_service(&allocate(&config, &groups, &[])),
        expect(&[("a", "30"), ("b", "20")])
    );
}

fn metric(day: u16, service: &str, value: i128) -> MetricValue {
    MetricValue {
        day,
        metric: "table_bytes".into(),
        service: service.into(),
        value: Dec18(value * DOLLAR),
    }
}

#[test]
fn proportional_split_and_its_fallbacks_are_visible() {
    let mut p = pool("warehouse", "warehouse", PoolMethod::Proportional, &[]);
    p.metric = Some("table_bytes".into());
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![p.clone()],
        ..AllocationConfig::default()
    };
    let groups = vec![
        row(10, "BigQuery", &[("service", "warehouse")], 100),
        row(11, "BigQuery", &[("service", "warehouse")], 40),
    ];
    let metrics = vec![metric(10, "etl", 1), metric(10, "bi", 3)];
    let out = allocate(&config, &groups, &metrics);
    let on = |day: u16| -> BTreeMap<String, String> {
        by_service(
            &out.iter()
                .filter(|a| a.day == day)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(on(10), expect(&[("bi", "75"), ("etl", "25")]));
    // Day 11 has no metric: the previous day's values are used, and the method says so.
    assert_eq!(on(11), expect(&[("bi", "30"), ("etl", "10")]));
    assert!(out
        .iter()
        .filter(|a| a.day == 11)
        .all(|a| a.method == "proportional:table_bytes (fallback: values of 1970-01-11)"));

    // With `missing_metric = even` and explicit targets, a day without values splits evenly.
    p.missing_metric = MissingMetric::Even;
    p.targets = vec!["etl".into(), "bi".into()];
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![p],
        ..AllocationConfig::default()
    };
    let out = allocate(&config, &groups, &metrics);
    let day11: Vec<Allocation> = out.into_iter().filter(|a| a.day == 11).collect();
    assert_eq!(by_service(&day11), expect(&[("bi", "20"), ("etl", "20")]));
    assert!(day11
        .iter()
        .all(|a| a.method == "even (fallback: no table_bytes values)"));
}

#[test]
fn pools_chain_and_default_targets_are_the_active_services() {
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![
            pool("kafka", "kafka", PoolMethod::Even, &["platform"]),
            pool("platform", "platform", PoolMethod::Even, &[]),
        ],
        ..AllocationConfig::default()
    };
    let groups = vec![
        row(0, "MSK", &[("service", "kafka")], 90),
        row(0, "EKS", &[("service", "platform")], 10),
        row(0, "EC2", &[("service", "a")], 1),
        row(0, "EC2", &[("service", "b")], 1),
    ];
    let out = allocate(&config, &groups, &[]);
    assert_eq!(by_service(&out), expect(&[("a", "51"), ("b", "51")]));
    assert!(out.iter().any(|a| a.pool == "kafka > platform"));
}

#[test]
fn fixed_shares_are_exact_decimals() {
    // 33.3 / 33.3 / 33.4 of 1000: exactly 333, 333 and 334, shares exactly 0.333 and 0.334.
    let mut p = pool("cache", "cache", PoolMethod::Fixed, &[]);
    p.shares = [
        ("a".to_string(), dec("33.3")),
        ("b".to_string(), dec("33.3")),
        ("c".to_string(), dec("33.4")),
    ]
    .into();
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![p.clone()],
        ..AllocationConfig::default()
    };
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let groups = vec![row(0, "ElastiCache", &[("service", "cache")], 1000)];
    let out = allocate(&config, &groups, &[]);
    assert_eq!(
        by_service(&out),
        expect(&[("a", "333"), ("b", "333"), ("c", "334")])
    );
    let share = |s: &str| {
        out.iter()
            .find(|a| a.service == s)
            .unwrap()
            .share
            .to_string()
    };
    assert_eq!(
        (share("a"), share("c")),
        ("0.333".to_string(), "0.334".to_string())
    );

    // A share finer than a millionth of a percent still counts, to the last of 18 digits.
    p.shares = [
        ("a".to_string(), dec("99.9999999")),
        ("b".to_string(), dec("0.0000001")),
    ]
    .into();
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![p],
        ..AllocationConfig::default()
    };
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    assert_eq!(
        by_service(&allocate(&config, &groups, &[])),
        expect(&[("a", "999.999999"), ("b", "0.000001")])
    );
}

#[test]
fn a_days_allocation_does_not_depend_on_the_other_days() {
    // `shared` is split evenly among a and b. Service a belongs to team t1 on day 0 and, by a
    // larger amount, to t2 on day 1: each day's pool share goes to that day's team.
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![pool("shared", "shared", PoolMethod::Even, &["a", "b"])],
        ..AllocationConfig::default()
    };
    let groups = vec![
        row(0, "EC2", &[("service", "a"), ("team", "t1")], 10),
        row(0, "EC2", &[("service", "b"), ("team", "t3")], 10),
        row(0, "RDS", &[("service", "shared")], 6),
        row(1, "EC2", &[("service", "a"), ("team", "t2")], 50),
        row(1, "EC2", &[("service", "b"), ("team", "t3")], 10),
        row(1, "RDS", &[("service", "shared")], 6),
    ];
    let together = allocate(&config, &groups, &[]);
    for day in [0, 1] {
        let alone: Vec<CostGroup> = groups.iter().filter(|g| g.day == day).cloned().collect();
        let expected: Vec<Allocation> = together.iter().filter(|a| a.day == day).cloned().collect();
        assert_eq!(allocate(&config, &alone, &[]), expected, "day {day}");
    }
    let pooled_team = |day: u16| {
        together
            .iter()
            .find(|a| a.day == day && a.kind == "pool" && a.service == "a")
            .unwrap()
            .team
            .clone()
    };
    assert_eq!(
        (pooled_team(0), pooled_team(1)),
        ("t1".to_string(), "t2".to_string())
    );
}

#[test]
fn currencies_are_split_separately_and_never_added() {
    // One shared database billed in USD and in EUR, weighted by the targets' direct cost: each
    // currency by the direct cost in that currency.
    let config = AllocationConfig {
        rules: tag_rules(),
        pools: vec![pool("db", "db", PoolMethod::Weighted, &["a", "b"])],
        ..AllocationConfig::default()
    };
    let groups = vec![
        row(0, "RDS", &[("service", "db")], 100),
        in_currency(row(0, "SQL Database", &[("service", "db")], 90), "EUR"),
        row(0, "EC2", &[("service", "a")], 30),
        row(0, "EC2", &[("service", "b")], 10),
        in_currency(
            row(0, "VM", &[("service", "a"), ("team", "t-eu")], 10),
            "EUR",
        ),
        in_currency(row(0, "VM", &[("service", "b")], 20), "EUR"),
    ];
    let out = allocate(&config, &groups, &[]);
    let by = |currency: &str| {
        by_service(
            &out.iter()
                .filter(|a| a.currency == currency)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    // USD: 100 by 30:10 on top of 30 and 10; EUR: 90 by 10:20 on top of 10 and 20.
    assert_eq!(by("USD"), expect(&[("a", "105"), ("b", "35")]));
    assert_eq!(by("EUR"), expect(&[("a", "40"), ("b", "80")]));
    assert!(out
        .iter()
        .all(|a| a.currency == "USD" || a.currency == "EUR"));
    // The EUR pool share of a goes to a's team in EUR; the USD one to its USD team.
    let team = |currency: &str| {
        out.iter()
            .find(|a| a.currency == currency && a.kind == "pool" && a.service == "a")
            .unwrap()
            .team
            .clone()
    };
    assert_eq!(
        (team("USD"), team("EUR")),
        ("unknown-team".to_string(), "t-eu".to_string())
    );
}

// Conservation on random data, rules and pools.

fn arb_groups() -> impl Strategy<Value = Vec<CostGroup>> {
    let services = prop::sample::select(vec!["a", "b", "c", "kafka", "db", ""]);
    let teams = prop::sample::select(vec!["t1", "t2", ""]);
    prop::collection::vec(
        (
            0u16..4,
            services,
            teams,
            -1_000_000_000_000i128..10_000_000_000_000_000_000_000i128,
            0i128..1_000_000_000_000_000_000_000,
            prop::sample::select(vec!["USD", "USD", "EUR"]),
        ),
        1..60,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (day, service, team, billed, effective, currency))| {
                let mut tags = vec![];
                if !service.is_empty() {
                    tags.push((if i % 3 == 0 { "app" } else { "service" }, service));
                }
                if !team.is_empty() {
                    tags.push(("team", team));
                }
                let mut g = row(day, if i % 2 == 0 { "EC2" } else { "RDS" }, &tags, 0);
                g.billed = Dec18(billed);
                g.effective = Dec18(effective);
                g.currency = currency.into();
                g
            })
            .collect()
    })
}

fn arb_pools() -> impl Strategy<Value = Vec<Pool>> {
    let method = prop::sample::select(vec![
        PoolMethod::Even,
        PoolMethod::Proportional,
        PoolMethod::Weighted,
        PoolMethod::Fixed,
    ]);
    let source = prop::sample::select(vec!["kafka", "db", "a"]);
    let targets = prop::sample::subsequence(vec!["a", "b", "c", "db"], 0..4);
    prop::collection::vec((method, source, targets, any::<bool>()), 0..4).prop_map(|pools| {
        pools
            .into_iter()
            .enumerate()
            .map(|(i, (method, source, targets, by_rows))| {
                let targets: Vec<&str> = targets.into_iter().filter(|t| *t != source).collect();
                let mut p = pool(&format!("p{i}"), source, method, &targets);
                if by_rows {
                    p.from_service = None;
                    p.when = Matcher {
                        service_name: Some("RDS".into()),
                        ..Matcher::default()
                    };
                }
                if method == PoolMethod::Proportional {
                    p.metric = Some("table_bytes".into());
                }
                if method == PoolMethod::Fixed {
                    p.targets.clear();
                    p.shares = [
                        ("a".to_string(), dec("33.3")),
                        ("c".to_string(), dec("66.7")),
                    ]
                    .into();
                }
                p
            })
            .collect()
    })
}

/// Rule sets drawn from templates: literal owners by billing dimension, tags with fallbacks and
/// defaults, resource patterns; in random order, so which rule wins varies too.
fn arb_rules() -> impl Strategy<Value = Vec<Rule>> {
    let templates = vec![
        Rule {
            name: "rds".into(),
            when: Matcher {
                service_name: Some("RDS".into()),
                ..Matcher::default()
            },
            service: OwnerValue::Literal("db".into()),
            team: Some(OwnerValue::Literal("platform".into())),
            env: None,
        },
        Rule {
            name: "team-tag".into(),
            when: Matcher {
                tags: [("team".to_string(), "t*".to_string())].into(),
                ..Matcher::default()
            },
            service: OwnerValue::FromTags {
                tag: vec!["app".into(), "service".into()],
                default: Some("shared".into()),
            },
            team: Some(OwnerValue::FromTags {
                tag: vec!["team".into()],
                default: None,
            }),
            env: None,
        },
        Rule {
            name: "resource".into(),
            when: Matcher {
                resource_id: Some("res-EC2-*".into()),
                ..Matcher::default()
            },
            service: OwnerValue::FromTags {
                tag: vec!["service".into()],
                default: None,
            },
            team: None,
            env: Some(OwnerValue::Literal("prod".into())),
        },
    ];
    (prop::sample::subsequence(templates, 0..=3), any::<bool>()).prop_map(
        |(mut rules, with_tags)| {
            if with_tags {
                rules.extend(tag_rules());
            }
            rules.reverse();
            rules
        },
    )
}

fn totals_per_day<'a>(
    billed: impl Iterator<Item = (u16, &'a str, i128, i128)>,
) -> BTreeMap<(u16, &'a str), (i128, i128)> {
    let mut sums = BTreeMap::new();
    for (day, currency, b, e) in billed {
        let slot: &mut (i128, i128) = sums.entry((day, currency)).or_default();
        slot.0 += b;
        slot.1 += e;
    }
    sums
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn allocated_plus_unallocated_equals_input_every_day(
        groups in arb_groups(),
        rules in arb_rules(),
        pools in arb_pools(),
        metric_days in prop::collection::vec((0u16..4, prop::sample::select(vec!["a", "b", "c"]), 0i128..1_000_000), 0..8),
    ) {
        let config = AllocationConfig { rules, pools, ..AllocationConfig::default() };
        prop_assume!(config.pool_cycle().is_none());
        let metrics: Vec<MetricValue> = metric_days.into_iter().map(|(d, s, v)| metric(d, s, v)).collect();
        let out = allocate(&config, &groups, &metrics);
        // Per day and currency: currencies are never mixed.
        let input = totals_per_day(groups.iter().map(|g| (g.day, g.currency.as_str(), g.billed.0, g.effective.0)));
        let output = totals_per_day(out.iter().map(|a| (a.day, a.currency.as_str(), a.billed.0, a.effective.0)));
        prop_assert_eq!(input, output);
        prop_assert!(out.iter().all(|a| ["direct", "pool", "unallocated"].contains(&a.kind.as_str())));
        // Each day alone gives the same rows as within the whole input.
        for day in 0u16..4 {
            let alone: Vec<CostGroup> = groups.iter().filter(|g| g.day == day).cloned().collect();
            let within: Vec<Allocation> = out.iter().filter(|a| a.day == day).cloned().collect();
            prop_assert_eq!(allocate(&config, &alone, &metrics), within);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn machine_cost_is_conserved_across_resources_consumers_and_idle(
        billed in -1_000_000_000_000_000_000_000i128..1_000_000_000_000_000_000_000_000,
        effective in 0i128..1_000_000_000_000_000_000_000_000,
        capacity in prop::array::uniform3(0i128..1_000_000_000_000_000_000_000_000),
        prices in prop::array::uniform3(0i128..10_000_000_000_000_000_000),
        usage in prop::collection::vec(prop::array::uniform3(0i128..1_000_000_000_000_000_000_000_000), 0..12),
    ) {
        let parts = allocator::capacity::by_resource((billed, effective), capacity, prices);
        prop_assert_eq!(parts.iter().map(|p| p.0).sum::<i128>(), billed);
        prop_assert_eq!(parts.iter().map(|p| p.1).sum::<i128>(), effective);
        let (consumers, idle) = allocator::capacity::to_consumers(parts, capacity, &usage);
        prop_assert_eq!(consumers.len(), usage.len());
        prop_assert_eq!(consumers.iter().map(|c| c.0).sum::<i128>() + idle.0, billed);
        prop_assert_eq!(consumers.iter().map(|c| c.1).sum::<i128>() + idle.1, effective);
    }
}
