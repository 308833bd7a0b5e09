//! A seeded world for the budget tests: 2.5 months of billing (`focus_costs`) and of the
//! allocations costmill would make of it, written side by side from one list of charges.
//!
//! - Daily usage per service (two resources each) with a weekly rhythm (quiet weekends) and noise,
//!   a spike on one day, and an hourly reservation fee billed every day (FOCUS `Recurring`, but
//!   run rate). Teams payments and search in USD; payments-eu and search-eu in EUR.
//! - A commitment fee on the 1st of each month (Recurring, one day; owned by payments-api).
//! - Support on the last day of each month (Recurring, one day, no ResourceId), pooled evenly over
//!   the four USD services.
//! - Tax for each month, one charge over the whole month (spread: allocation gives each day its
//!   share), pooled by the services' usage of the day; the days after the last usage day have
//!   no usage, so the pool keeps their shares with its source (`tax`, team finance).
//! - A marketplace subscription of search over each whole month (spread, owned by a rule: its
//!   shares are search's on every day of the month).
//! - A license of search on the last day of each month (Recurring, one day).
//! - One-time purchases of search (Sep 10, Oct 3): billed, with no effective cost.
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use queries::rows::FocusRow;
use queries::{Dec18, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Usage,
    ReservationFee,
    Commitment,
    Support,
    Tax,
    Subscription,
    OneTime,
    License,
}

/// One allocation row as the test wrote it, with what it is.
#[derive(Debug, Clone)]
pub struct Alloc {
    pub day: NaiveDate,
    pub team: String,
    pub service: String,
    pub currency: &'static str,
    pub what: What,
    pub billed: Decimal,
    pub effective: Decimal,
    pub row: AllocationRow,
}

/// One billing row as the test wrote it.
#[derive(Debug, Clone)]
pub struct Bill {
    pub day: NaiveDate,
    pub team: String,
    pub currency: &'static str,
    pub what: What,
    pub billed: Decimal,
    pub effective: Decimal,
    pub row: FocusRow,
}

pub struct World {
    pub allocations: Vec<Alloc>,
    pub bills: Vec<Bill>,
}

pub use queries::rows::AllocationRow;

impl Alloc {
    /// An allocation row costmill wrote, with what it is told by its billing source and input.
    pub fn read(row: AllocationRow) -> Alloc {
        let what = match row.cost_source.as_str() {
            "AWS / Tax" => What::Tax,
            "AWS / AWS Support (Business)" => What::Support,
            "AWS / Savings Plans for AWS Compute usage" => What::Commitment,
            "AWS / Elastic Cloud (Marketplace)" => What::Subscription,
            "Elastic / Elastic Cloud license" => What::License,
            _ if row.input_ref.starts_with("os-reserved-") => What::OneTime,
            _ if row.input_ref.starts_with("ri-") => What::ReservationFee,
            _ => What::Usage,
        };
        let currency = match row.currency.as_str() {
            "USD" => "USD",
            "EUR" => "EUR",
            other => panic!("unexpected currency {other}"),
        };
        Alloc {
            day: d("1970-01-01") + Duration::days(row.day as i64),
            team: row.team.clone(),
            service: row.service.clone(),
            currency,
            what,
            billed: row.billed.to_decimal().unwrap(),
            effective: row.effective.to_decimal().unwrap(),
            row,
        }
    }
}

pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day_number(day: NaiveDate) -> u16 {
    (day - d("1970-01-01")).num_days() as u16
}

fn seconds(day: NaiveDate) -> u32 {
    day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as u32
}

fn dec18(v: Decimal) -> Dec18 {
    Dec18::from_decimal_exact(v).expect("at most 18 decimals")
}

pub const FIRST_DAY: &str = "2026-08-01";
const SOURCE_EC2: &str = "Amazon Elastic Compute Cloud";

struct ServiceSpec {
    team: &'static str,
    service: &'static str,
    currency: &'static str,
    provider: &'static str,
    cloud_service: &'static str,
    base: i64,
}

const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        team: "payments",
        service: "payments-api",
        currency: "USD",
        provider: "AWS",
        cloud_service: SOURCE_EC2,
        base: 900,
    },
    ServiceSpec {
        team: "payments",
        service: "ledger",
        currency: "USD",
        provider: "AWS",
        cloud_service: "Amazon Relational Database Service",
        base: 400,
    },
    ServiceSpec {
        team: "search",
        service: "search-api",
        currency: "USD",
        provider: "AWS",
        cloud_service: SOURCE_EC2,
        base: 700,
    },
    ServiceSpec {
        team: "search",
        service: "indexer",
        currency: "USD",
        provider: "AWS",
        cloud_service: "Amazon OpenSearch Service",
        base: 300,
    },
    ServiceSpec {
        team: "payments",
        service: "payments-eu",
        currency: "EUR",
        provider: "Microsoft",
        cloud_service: "Virtual Machines",
        base: 500,
    },
    ServiceSpec {
        team: "search",
        service: "search-eu",
        currency: "EUR",
        provider: "Microsoft",
        cloud_service: "Azure Cognitive Search",
        base: 200,
    },
];

struct Writer {
    world: World,
    counter: u64,
}

impl Writer {
    #[allow(clippy::too_many_arguments)]
    fn bill(
        &mut self,
        what: What,
        (start, end): (NaiveDate, NaiveDate),
        (provider, cloud_service, resource, category, frequency): (&str, &str, &str, &str, &str),
        currency: &'static str,
        team: &str,
        service: &str,
        (billed, effective): (Decimal, Decimal),
    ) {
        self.counter += 1;
        let month = start.with_day(1).unwrap();
        let (keys, values): (Vec<String>, Vec<String>) = if team.is_empty() {
            (vec![], vec![])
        } else {
            (
                vec!["team".into(), "service".into()],
                vec![team.into(), service.into()],
            )
        };
        let row = FocusRow {
            BillingAccountId: "111122223333".into(),
            BillingAccountName: "acme".into(),
            BillingCurrency: currency.into(),
            BillingPeriodStart: seconds(month),
            BillingPeriodEnd: seconds(month + chrono::Months::new(1)),
            ChargePeriodStart: seconds(start),
            ChargePeriodEnd: seconds(end),
            ChargeCategory: category.into(),
            ChargeFrequency: frequency.into(),
            BilledCost: dec18(billed),
            EffectiveCost: dec18(effective),
            ListCost: dec18(billed),
            ContractedCost: dec18(billed),
            Provider: provider.into(),
            Publisher: provider.into(),
            InvoiceIssuer: provider.into(),
            ServiceName: cloud_service.into(),
            ServiceCategory: "Compute".into(),
            ResourceId: resource.into(),
            Tags: if team.is_empty() {
                "{}".into()
            } else {
                format!(r#"{{"team":"{team}","service":"{service}"}}"#)
            },
            x_TagKeys: keys,
            x_TagValues: values,
            x_Source: "seed".into(),
            x_BatchId: "seed".into(),
            x_SourceRow: self.counter,
            x_RowFingerprint: self.counter,
            ..FocusRow::default()
        };
        self.world.bills.push(Bill {
            day: start,
            team: team.into(),
            currency,
            what,
            billed,
            effective,
            row,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn allocate(
        &mut self,
        what: What,
        day: NaiveDate,
        (team, service, currency): (&str, &str, &'static str),
        (kind, pool, method): (&str, &str, &str),
        (cost_source, input_ref): (&str, &str),
        share: Decimal,
        (billed, effective): (Decimal, Decimal),
    ) {
        let row = AllocationRow {
            day: day_number(day),
            service: service.into(),
            team: team.into(),
            env: "prod".into(),
            currency: currency.into(),
            kind: kind.into(),
            pool: pool.into(),
            method: method.into(),
            cost_source: cost_source.into(),
            input_ref: input_ref.into(),
            share: dec18(share),
            billed: dec18(billed),
            effective: dec18(effective),
            input_rows: 1,
            run_id: "seed".into(),
            computed_at: 0,
        };
        self.world.allocations.push(Alloc {
            day,
            team: team.into(),
            service: service.into(),
            currency,
            what,
            billed,
            effective,
            row,
        });
    }
}

fn month_end(month: NaiveDate) -> NaiveDate {
    month + chrono::Months::new(1)
}

/// Split `amount` by `weights` into parts of 9 decimals adding up to it exactly (the rest to the
/// biggest weight), as a pool does.
fn split(amount: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let total: Decimal = weights.iter().sum();
    let mut parts: Vec<Decimal> = weights
        .iter()
        .map(|w| (amount * w / total).trunc_with_scale(9))
        .collect();
    let rest = amount - parts.iter().sum::<Decimal>();
    let biggest = (0..weights.len()).max_by_key(|i| weights[*i]).unwrap();
    parts[biggest] += rest;
    parts
}

/// The world with usage up to and including `last_day` (and the month's spread charges after it).
pub fn world(seed: u64, last_day: NaiveDate) -> World {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = Writer {
        world: World {
            allocations: vec![],
            bills: vec![],
        },
        counter: 0,
    };
    let first = d(FIRST_DAY);
    let month_of_last = last_day.with_day(1).unwrap();
    let one = Decimal::ONE;
    let mut day = first;
    while day < month_end(month_of_last) {
        let usage_day = day <= last_day;
        let next = day + Duration::days(1);
        let month = day.with_day(1).unwrap();
        // Usage: the services' direct cost of the day (the tax pool's weights).
        let mut weights = Vec::new();
        for s in SERVICES {
            let mut direct = Decimal::ZERO;
            for r in 0..2 {
                if !usage_day {
                    break;
                }
                let weekly = match day.weekday() {
                    Weekday::Sat => 60,
                    Weekday::Sun => 55,
                    _ => 100,
                };
                let noise = rng.gen_range(920_000..=1_080_000i64);
                let spike = if s.service == "payments-api" && day == d("2026-10-14") {
                    3
                } else {
                    1
                };
                let share = if r == 0 { 70 } else { 30 };
                let amount = Decimal::new(s.base * weekly * share * noise * spike, 10);
                let resource = format!("i-{}-{r}", s.service);
                let source = format!("{} / {}", s.provider, s.cloud_service);
                w.bill(
                    What::Usage,
                    (day, next),
                    (
                        s.provider,
                        s.cloud_service,
                        &resource,
                        "Usage",
                        "Usage-Based",
                    ),
                    s.currency,
                    s.team,
                    s.service,
                    (amount, amount),
                );
                w.allocate(
                    What::Usage,
                    day,
                    (s.team, s.service, s.currency),
                    ("direct", "", "rule:tagged"),
                    (&source, &resource),
                    one,
                    (amount, amount),
                );
                direct += amount;
            }
            if usage_day && s.service == "payments-api" {
                // An hourly reservation fee: Recurring, but billed every day.
                let fee = dec("48.120000");
                w.bill(
                    What::ReservationFee,
                    (day, next),
                    ("AWS", SOURCE_EC2, "ri-payments-1", "Purchase", "Recurring"),
                    "USD",
                    s.team,
                    s.service,
                    (fee, fee),
                );
                w.allocate(
                    What::ReservationFee,
                    day,
                    (s.team, s.service, "USD"),
                    ("direct", "", "rule:tagged"),
                    ("AWS / Amazon Elastic Compute Cloud", "ri-payments-1"),
                    one,
                    (fee, fee),
                );
                direct += fee;
            }
            if s.currency == "USD" {
                weights.push((s, direct));
            }
        }
        if day.day() == 1 {
            let fee = if month < d("2026-10-01") {
                dec("3000")
            } else {
                dec("3200")
            };
            let arn = "arn:aws:savingsplans::111122223333:savingsplan/sp-payments";
            w.bill(
                What::Commitment,
                (day, next),
                (
                    "AWS",
                    "Savings Plans for AWS Compute usage",
                    arn,
                    "Purchase",
                    "Recurring",
                ),
                "USD",
                "",
                "",
                (fee, fee),
            );
            w.allocate(
                What::Commitment,
                day,
                ("payments", "payments-api", "USD"),
                ("direct", "", "rule:commitments"),
                ("AWS / Savings Plans for AWS Compute usage", arn),
                one,
                (fee, fee),
            );
        }
        let last_of_month = next.day() == 1;
        if last_of_month && usage_day {
            let support = if month < d("2026-09-01") {
                dec("1200")
            } else {
                dec("1250")
            };
            w.bill(
                What::Support,
                (day, next),
                ("AWS", "AWS Support (Business)", "", "Purchase", "Recurring"),
                "USD",
                "",
                "",
                (support, support),
            );
            let quarter = support / Decimal::from(4);
            for (s, _) in &weights {
                w.allocate(
                    What::Support,
                    day,
                    (s.team, s.service, "USD"),
                    ("pool", "support", "even"),
                    ("AWS / AWS Support (Business)", "support"),
                    dec("0.25"),
                    (quarter, quarter),
                );
            }
            let license = if month < d("2026-09-01") {
                dec("380")
            } else {
                dec("400")
            };
            w.bill(
                What::License,
                (day, next),
                (
                    "Elastic",
                    "Elastic Cloud license",
                    "",
                    "Purchase",
                    "Recurring",
                ),
                "USD",
                "search",
                "search-api",
                (license, license),
            );
            w.allocate(
                What::License,
                day,
                ("search", "search-api", "USD"),
                ("direct", "", "rule:tagged"),
                ("Elastic / Elastic Cloud license", "(Purchase)"),
                one,
                (license, license),
            );
        }
        // Monthly charges over the whole month, billed with the month's first day.
        let days_in_month = Decimal::from((month_end(month) - month).num_days());
        let (tax, subscription) = (dec("10") * days_in_month, dec("20") * days_in_month);
        if day.day() == 1 {
            w.bill(
                What::Tax,
                (month, month_end(month)),
                ("AWS", "Tax", "", "Tax", "Recurring"),
                "USD",
                "",
                "",
                (tax, tax),
            );
            w.bill(
                What::Subscription,
                (month, month_end(month)),
                (
                    "AWS",
                    "Elastic Cloud (Marketplace)",
                    "elastic-sub-1",
                    "Purchase",
                    "Recurring",
                ),
                "USD",
                "search",
                "search-api",
                (subscription, subscription),
            );
        }
        let per_day = dec("10");
        if usage_day {
            let parts = split(
                per_day,
                &weights.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
            );
            let total: Decimal = weights.iter().map(|(_, w)| *w).sum();
            for ((s, weight), part) in weights.iter().zip(parts) {
                let share = (*weight / total).round_dp(18);
                w.allocate(
                    What::Tax,
                    day,
                    (s.team, s.service, "USD"),
                    ("pool", "tax", "weighted"),
                    ("AWS / Tax", "tax"),
                    share,
                    (part, part),
                );
            }
        } else {
            w.allocate(
                What::Tax,
                day,
                ("finance", "tax", "USD"),
                ("pool", "tax", "weighted (no targets: kept by source)"),
                ("AWS / Tax", "tax"),
                one,
                (per_day, per_day),
            );
        }
        let period = format!(
            "{}/{}",
            month.format("%Y-%m-%d"),
            month_end(month).format("%Y-%m-%d")
        );
        let sub = dec("20");
        w.allocate(
            What::Subscription,
            day,
            ("search", "search-api", "USD"),
            ("direct", "", "rule:tagged"),
            (
                "AWS / Elastic Cloud (Marketplace)",
                &format!("elastic-sub-1 [spread {period}]"),
            ),
            one,
            (sub, sub),
        );
        let one_time = match (day.month(), day.day()) {
            (9, 10) => Some(dec("900")),
            (10, 3) => Some(dec("1500")),
            _ => None,
        };
        if let Some(price) = one_time.filter(|_| usage_day) {
            let id = format!("os-reserved-{}", day.format("%m%d"));
            w.bill(
                What::OneTime,
                (day, next),
                (
                    "AWS",
                    "Amazon OpenSearch Service",
                    &id,
                    "Purchase",
                    "One-Time",
                ),
                "USD",
                "search",
                "indexer",
                (price, Decimal::ZERO),
            );
            w.allocate(
                What::OneTime,
                day,
                ("search", "indexer", "USD"),
                ("direct", "", "rule:tagged"),
                ("AWS / Amazon OpenSearch Service", &id),
                one,
                (price, Decimal::ZERO),
            );
        }
        day = next;
    }
    w.world
}

/// Write the world's billing rows only.
pub async fn seed_bills(store: &Store, world: &World) {
    let mut insert = store.insert::<FocusRow>("focus_costs").await.unwrap();
    for b in &world.bills {
        insert.write(&b.row).await.unwrap();
    }
    insert.end().await.unwrap();
}

/// Write the world's rows.
pub async fn seed(store: &Store, world: &World) {
    seed_bills(store, world).await;
    let mut insert = store.insert::<AllocationRow>("allocations").await.unwrap();
    for a in &world.allocations {
        insert.write(&a.row).await.unwrap();
    }
    insert.end().await.unwrap();
}

/// One more day of usage for a service (USD, direct).
pub fn usage_row(day: NaiveDate, team: &str, service: &str, amount: Decimal) -> AllocationRow {
    AllocationRow {
        day: day_number(day),
        service: service.into(),
        team: team.into(),
        env: "prod".into(),
        currency: "USD".into(),
        kind: "direct".into(),
        pool: String::new(),
        method: "rule:tagged".into(),
        cost_source: format!("AWS / {SOURCE_EC2}"),
        input_ref: format!("i-{service}-extra-{}", day.format("%m%d")),
        share: dec18(Decimal::ONE),
        billed: dec18(amount),
        effective: dec18(amount),
        input_rows: 1,
        run_id: "seed".into(),
        computed_at: 0,
    }
}
