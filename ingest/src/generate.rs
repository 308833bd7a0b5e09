//! A seeded, realistic multi-cloud FOCUS dataset for the demo, the tests and the benchmarks.
//!
//! Three providers with their own services, accounts, regions and resource id shapes; tags for
//! team/service/env with some untagged spend and some `app` instead of `service`; an AWS Savings
//! Plan with monthly purchase, amortized covered usage and an unused remainder; credits; taxes; a
//! cost spike; and, in the `export` flavor, the small spec deviations real exports contain.
//! Rows are produced one at a time: a file of any size is written in constant memory.
use std::io::Write;

use chrono::{Datelike, Months, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::focus::Column;

/// How values are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// As real exports: `NULL`, ISO 8601 with `Z` for some providers, occasional spec deviations.
    Export,
    /// What `clickhouse-client ... FORMAT CSVWithNames` loads: `\N` nulls, `YYYY-MM-DD hh:mm:ss`.
    Clickhouse,
}

/// Header names of FOCUS 1.0 (`ProviderName`, ...) or 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusVersion {
    V1_0,
    V1_2,
}

impl std::str::FromStr for Flavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Flavor, String> {
        match s {
            "export" => Ok(Flavor::Export),
            "clickhouse" => Ok(Flavor::Clickhouse),
            other => Err(format!("`{other}`: expected export or clickhouse")),
        }
    }
}

impl std::str::FromStr for FocusVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<FocusVersion, String> {
        match s {
            "1.0" => Ok(FocusVersion::V1_0),
            "1.2" => Ok(FocusVersion::V1_2),
            other => Err(format!("`{other}`: expected 1.0 or 1.2")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub rows: u64,
    pub seed: u64,
    /// First day of the first billing month.
    pub start: NaiveDate,
    pub months: u32,
    pub flavor: Flavor,
    pub version: FocusVersion,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            rows: 20_000,
            seed: 42,
            start: NaiveDate::from_ymd_opt(2026, 8, 1).expect("valid date"),
            months: 3,
            flavor: Flavor::Export,
            version: FocusVersion::V1_2,
        }
    }
}

/// The header line in file order.
pub fn headers(version: FocusVersion) -> Vec<&'static str> {
    Column::ALL
        .iter()
        .map(|c| match (version, c) {
            (FocusVersion::V1_0, Column::Provider) => "ProviderName",
            (FocusVersion::V1_0, Column::Publisher) => "PublisherName",
            (FocusVersion::V1_0, Column::InvoiceIssuer) => "InvoiceIssuerName",
            _ => c.name(),
        })
        .collect()
}

struct Service {
    name: &'static str,
    category: &'static str,
    resource_type: &'static str,
    unit: &'static str,
    /// Unit price range in millionths of a dollar.
    price_micros: (i64, i64),
    /// Quantity range per row in millionths.
    quantity_micros: (i64, i64),
    sku: &'static str,
}

struct Provider {
    name: &'static str,
    account: &'static str,
    account_name: &'static str,
    sub_accounts: &'static [(&'static str, &'static str)],
    regions: &'static [(&'static str, &'static str)],
    services: &'static [Service],
    iso_timestamps: bool,
}

const fn svc(
    name: &'static str,
    category: &'static str,
    resource_type: &'static str,
    unit: &'static str,
    price_micros: (i64, i64),
    quantity_micros: (i64, i64),
    sku: &'static str,
) -> Service {
    Service {
        name,
        category,
        resource_type,
        unit,
        price_micros,
        quantity_micros,
        sku,
    }
}

const HOURS: (i64, i64) = (1_000_000, 24_000_000);

static PROVIDERS: [Provider; 3] = [
    Provider {
        name: "AWS",
        account: "412345678901",
        account_name: "acme-payer",
        sub_accounts: &[
            ("123456789012", "acme-prod"),
            ("223456789012", "acme-staging"),
            ("323456789012", "acme-data"),
            ("423456789012", "acme-sandbox"),
        ],
        regions: &[
            ("us-east-1", "US East (N. Virginia)"),
            ("us-west-2", "US West (Oregon)"),
            ("eu-west-1", "Europe (Ireland)"),
        ],
        services: &[
            svc(
                "Amazon Elastic Compute Cloud",
                "Compute",
                "Instance",
                "Hrs",
                (41_600, 3_060_000),
                HOURS,
                "EC2-BoxUsage",
            ),
            svc(
                "Amazon Simple Storage Service",
                "Storage",
                "Bucket",
                "GB-Mo",
                (21_000, 23_000),
                (5_000_000, 900_000_000),
                "S3-TimedStorage",
            ),
            svc(
                "Amazon Relational Database Service",
                "Databases",
                "DB Instance",
                "Hrs",
                (170_000, 2_400_000),
                HOURS,
                "RDS-InstanceUsage",
            ),
            svc(
                "Amazon ElastiCache",
                "Databases",
                "Cache Cluster",
                "Hrs",
                (68_000, 1_100_000),
                HOURS,
                "EC-NodeUsage",
            ),
            svc(
                "Amazon Managed Streaming for Apache Kafka",
                "Analytics",
                "Kafka Cluster",
                "Hrs",
                (210_000, 1_680_000),
                HOURS,
                "MSK-BrokerUsage",
            ),
            svc(
                "AWS Lambda",
                "Compute",
                "Function",
                "Requests",
                (200, 200),
                (1_000_000_000, 90_000_000_000),
                "Lambda-Request",
            ),
            svc(
                "Amazon DynamoDB",
                "Databases",
                "Table",
                "ReadCapacityUnit-Hrs",
                (130, 130),
                (100_000_000, 9_000_000_000),
                "DDB-ReadCapacity",
            ),
            svc(
                "Amazon CloudFront",
                "Networking",
                "Distribution",
                "GB",
                (85_000, 85_000),
                (1_000_000, 400_000_000),
                "CF-DataTransfer-Out",
            ),
            svc(
                "Amazon Elastic Kubernetes Service",
                "Compute",
                "Cluster",
                "Hrs",
                (100_000, 100_000),
                HOURS,
                "EKS-Cluster",
            ),
            svc(
                "Amazon CloudWatch",
                "Management and Governance",
                "Log Group",
                "GB",
                (500_000, 500_000),
                (100_000, 40_000_000),
                "CW-DataProcessing",
            ),
        ],
        iso_timestamps: false,
    },
    Provider {
        name: "Google Cloud",
        account: "01A2B3-C4D5E6-F7A8B9",
        account_name: "Acme Billing",
        sub_accounts: &[
            ("acme-prod-4821", "acme-prod"),
            ("acme-analytics-1102", "acme-analytics"),
            ("acme-ml-7731", "acme-ml"),
            ("acme-dev-3310", "acme-dev"),
        ],
        regions: &[("us-central1", "Iowa"), ("europe-west4", "Netherlands")],
        services: &[
            svc(
                "Compute Engine",
                "Compute",
                "VM Instance",
                "hour",
                (31_000, 4_200_000),
                HOURS,
                "6F81-5844-456A",
            ),
            svc(
                "Cloud Storage",
                "Storage",
                "Bucket",
                "gibibyte month",
                (20_000, 26_000),
                (5_000_000, 700_000_000),
                "E5F0-6A5D-7BAD",
            ),
            svc(
                "BigQuery",
                "Analytics",
                "Dataset",
                "tebibyte",
                (6_250_000, 6_250_000),
                (10_000, 3_000_000),
                "24E6-581D-38E5",
            ),
            svc(
                "Cloud SQL",
                "Databases",
                "Database Instance",
                "hour",
                (97_000, 1_900_000),
                HOURS,
                "9662-B51E-5089",
            ),
            svc(
                "Kubernetes Engine",
                "Compute",
                "Cluster",
                "hour",
                (100_000, 100_000),
                HOURS,
                "B561-BFBD-1264",
            ),
            svc(
                "Cloud Pub/Sub",
                "Integration",
                "Topic",
                "tebibyte",
                (40_000_000, 40_000_000),
                (1_000, 200_000),
                "1E5D-E8A5-6A18",
            ),
            svc(
                "Memorystore for Redis",
                "Databases",
                "Redis Instance",
                "gibibyte hour",
                (49_000, 49_000),
                (1_000_000, 300_000_000),
                "5B2C-3E5C-2DB7",
            ),
            svc(
                "Vertex AI",
                "AI and Machine Learning",
                "Endpoint",
                "hour",
                (750_000, 4_100_000),
                HOURS,
                "A4C8-D7B1-9E21",
            ),
        ],
        iso_timestamps: true,
    },
    Provider {
        name: "Microsoft",
        account: "8611537",
        account_name: "Acme Enterprise Agreement",
        sub_accounts: &[
            ("5c9f7b3e-1a2d-4e8f-9b6c-7d1e2f3a4b5c", "acme-prod-sub"),
            ("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "acme-nonprod-sub"),
            ("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "acme-shared-sub"),
        ],
        regions: &[("eastus", "East US"), ("westeurope", "West Europe")],
        services: &[
            svc(
                "Virtual Machines",
                "Compute",
                "Virtual machine",
                "1 Hour",
                (48_000, 3_600_000),
                HOURS,
                "DZH318Z0BQ4L",
            ),
            svc(
                "Storage",
                "Storage",
                "Storage account",
                "1 GB/Month",
                (18_000, 21_000),
                (5_000_000, 600_000_000),
                "DZH318Z0BNVX",
            ),
            svc(
                "Azure SQL Database",
                "Databases",
                "SQL database",
                "1 Hour",
                (250_000, 2_700_000),
                HOURS,
                "DZH318Z0BQ6D",
            ),
            svc(
                "Azure Cache for Redis",
                "Databases",
                "Redis cache",
                "1 Hour",
                (55_000, 1_200_000),
                HOURS,
                "DZH318Z0BQ9P",
            ),
            svc(
                "Azure Kubernetes Service",
                "Compute",
                "Managed cluster",
                "1 Hour",
                (100_000, 100_000),
                HOURS,
                "DZH318Z0BP2H",
            ),
            svc(
                "Event Hubs",
                "Analytics",
                "Event Hubs namespace",
                "1 Hour",
                (30_000, 1_230_000),
                HOURS,
                "DZH318Z0BPVC",
            ),
            svc(
                "Azure Monitor",
                "Management and Governance",
                "Log Analytics workspace",
                "1 GB",
                (2_760_000, 2_760_000),
                (100_000, 30_000_000),
                "DZH318Z0BPWD",
            ),
        ],
        iso_timestamps: true,
    },
];

const TEAMS: [(&str, [&str; 5]); 8] = [
    (
        "payments",
        [
            "payments-api",
            "ledger",
            "fraud-scoring",
            "payouts",
            "invoicing",
        ],
    ),
    (
        "search",
        [
            "search-api",
            "indexer",
            "query-suggest",
            "ranking",
            "crawler",
        ],
    ),
    (
        "checkout",
        ["cart", "checkout-web", "pricing", "promotions", "tax-calc"],
    ),
    (
        "data",
        [
            "warehouse",
            "etl",
            "events-pipeline",
            "bi-dashboards",
            "cdc",
        ],
    ),
    (
        "ml",
        [
            "recommender",
            "feature-store",
            "training",
            "embeddings",
            "model-serving",
        ],
    ),
    (
        "platform",
        [
            "kafka",
            "postgres-shared",
            "redis-shared",
            "k8s-core",
            "observability",
        ],
    ),
    (
        "identity",
        ["auth", "sso", "user-profile", "permissions", "audit-log"],
    ),
    (
        "growth",
        [
            "emails",
            "notifications",
            "experiments",
            "landing-pages",
            "referrals",
        ],
    ),
];
const ENVS: [&str; 3] = ["prod", "staging", "dev"];

/// One resource and everything constant about its rows.
struct Resource {
    provider: usize,
    service: usize,
    id: String,
    name: String,
    sub_account: usize,
    region: usize,
    zone: String,
    tags: String,
    unit_price_micros: i64,
    team: usize,
    covered_by_savings_plan: bool,
}

const RESOURCES: usize = 320;
/// Savings Plan: covered usage is amortized at 72 % of on-demand.
const SAVINGS_PLAN_RATE_PERCENT: i128 = 72;
const SAVINGS_PLAN_ID: &str =
    "arn:aws:savingsplans::412345678901:savingsplan/3f1c2a7e-5b9d-4e8a-a1c6-0d2f4b6e8a9c";
/// 10^15: amounts are generated with 15 fractional digits, as real exports carry.
const SCALE15: i128 = 1_000_000_000_000_000;

fn build_resources(rng: &mut ChaCha8Rng) -> Vec<Resource> {
    (0..RESOURCES)
        .map(|i| {
            let provider = i % PROVIDERS.len();
            let p = &PROVIDERS[provider];
            let service = rng.gen_range(0..p.services.len());
            let s = &p.services[service];
            let team = rng.gen_range(0..TEAMS.len());
            let app = TEAMS[team].1[rng.gen_range(0..5)];
            let env = ENVS[[0, 0, 0, 1, 2][rng.gen_range(0..5)]];
            let sub_account = rng.gen_range(0..p.sub_accounts.len());
            let region = rng.gen_range(0..p.regions.len());
            let (region_id, _) = p.regions[region];
            let name = format!("{app}-{env}-{}", i);
            let (sub_id, _) = p.sub_accounts[sub_account];
            let (id, zone) = match (p.name, s.name) {
                // Compute instances as real exports identify them (no random draw: the amounts
                // stay those of every earlier version of the generator).
                ("AWS", "Amazon Elastic Compute Cloud") => (
                    format!("arn:aws:ec2:{region_id}:{sub_id}:instance/{}", ec2_instance_id(i)),
                    format!("{region_id}{}", ['a', 'b', 'c'][i % 3]),
                ),
                ("Microsoft", "Virtual Machines") => (
                    format!("/subscriptions/{sub_id}/resourceGroups/rg-{app}/providers/Microsoft.Compute/virtualMachines/{name}"),
                    String::new(),
                ),
                ("AWS", _) => (
                    format!("arn:aws:{}:{region_id}:{sub_id}:{}/{name}-{i:05x}", s.sku.split('-').next().unwrap_or("svc").to_lowercase(), s.resource_type.to_lowercase().replace(' ', "-")),
                    format!("{region_id}{}", ['a', 'b', 'c'][i % 3]),
                ),
                ("Google Cloud", _) => (
                    format!("//{}.googleapis.com/projects/{sub_id}/zones/{region_id}-b/{}/{name}", s.name.split(' ').next().unwrap_or("svc").to_lowercase(), s.resource_type.to_lowercase().replace(' ', "-")),
                    format!("{region_id}-{}", ['a', 'b', 'c'][i % 3]),
                ),
                _ => (
                    format!("/subscriptions/{sub_id}/resourceGroups/rg-{app}/providers/Microsoft.{}/{name}", s.resource_type.replace(' ', "")),
                    String::new(),
                ),
            };
            // 12 % untagged; 10 % use `app` instead of `service`; some carry provider tags.
            let tag_roll = rng.gen_range(0..100);
            let tags = if tag_roll < 12 {
                String::new()
            } else {
                let service_key = if tag_roll < 22 { "app" } else { "service" };
                let extra = if p.name == "AWS" && tag_roll % 3 == 0 { r#","aws:createdBy":"terraform""# } else { "" };
                format!(r#"{{"team":"{}","{service_key}":"{app}","env":"{env}"{extra}}}"#, TEAMS[team].0)
            };
            let (lo, hi) = s.price_micros;
            let covered = p.name == "AWS" && s.name == "Amazon Elastic Compute Cloud" && rng.gen_bool(0.4);
            Resource {
                provider,
                service,
                id,
                name,
                sub_account,
                region,
                zone,
                tags,
                unit_price_micros: rng.gen_range(lo..=hi),
                team,
                covered_by_savings_plan: covered,
            }
        })
        .collect()
}

/// What a generated file adds up to, for tests that compare against ingested totals.
#[derive(Debug, Default, Clone)]
pub struct GenerateSummary {
    pub rows: u64,
}

/// Writes rows as CSV.
pub fn write_csv<W: Write>(options: &GenerateOptions, out: W) -> std::io::Result<GenerateSummary> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    writer.write_record(headers(options.version))?;
    let mut rows = 0;
    for_each_row(options, |row| {
        rows += 1;
        writer.write_record(row.iter().map(|s| s.as_str()))
    })?;
    writer.flush()?;
    Ok(GenerateSummary { rows })
}

/// Generate every row in order, handing each to `emit` as the fields of `headers()`.
pub fn for_each_row<E>(
    options: &GenerateOptions,
    mut emit: impl FnMut(&[String]) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let resources = build_resources(&mut rng);
    let months: Vec<NaiveDate> = (0..options.months.max(1))
        .map(|m| options.start + Months::new(m))
        .collect();
    let end = *months.last().expect("at least one month") + Months::new(1);
    let days = (end - options.start).num_days().max(1) as u64;
    // Per month and provider: tax and credit; for AWS also the Savings Plan purchase and its unused part.
    let fixed_per_month = PROVIDERS.len() as u64 * 2 + 2;
    let fixed = fixed_per_month * months.len() as u64;
    let usage_rows = options.rows.saturating_sub(fixed);
    let mut row = RowBuilder::new(options);

    for (m, month_start) in months.iter().enumerate() {
        let month_end = *month_start + Months::new(1);
        let first_day = (*month_start - options.start).num_days() as u64;
        let last_day = (month_end - options.start).num_days() as u64;
        // Usage rows are spread evenly over days, in time order like real exports.
        let from = usage_rows * first_day / days;
        let to = usage_rows * last_day / days;
        let mut month_usage = vec![0i128; PROVIDERS.len()];
        for i in from..to {
            // Clamped: integer rounding must not move a row out of its billing month.
            let day_index = (i * days / usage_rows.max(1)).clamp(first_day, last_day - 1);
            let day = options.start + chrono::Days::new(day_index);
            let r = &resources[rng.gen_range(0..resources.len())];
            let s = &PROVIDERS[r.provider].services[r.service];
            let quantity = rng.gen_range(s.quantity_micros.0..=s.quantity_micros.1);
            let mut billed = i128::from(r.unit_price_micros) * i128::from(quantity) * 1000; // 10^-12 → 10^-15
                                                                                            // The spike: in the last month, the ML team's compute goes up eightfold for five days.
            let is_last_month = m + 1 == months.len();
            if is_last_month
                && (10..15).contains(&day.day())
                && TEAMS[r.team].0 == "ml"
                && s.category == "Compute"
            {
                billed *= 8;
            }
            month_usage[r.provider] += billed;
            row.usage(&mut rng, r, day, *month_start, month_end, quantity, billed);
            emit(&row.fields)?;
        }
        for (p, provider) in PROVIDERS.iter().enumerate() {
            let usage = month_usage[p];
            // Tax: 7.25 % of billed usage; credit: a promotional credit of 3 %.
            row.charge(
                provider,
                *month_start,
                month_end,
                "Tax",
                usage * 725 / 10_000,
                "Sales tax",
            );
            emit(&row.fields)?;
            row.charge(
                provider,
                *month_start,
                month_end,
                "Credit",
                -(usage * 3 / 100),
                "Promotional credit",
            );
            emit(&row.fields)?;
        }
        let fee = 4_800 * SCALE15; // the Savings Plan's monthly commitment
        row.savings_plan(*month_start, month_end, "Purchase", fee);
        emit(&row.fields)?;
        row.savings_plan(*month_start, month_end, "Unused", fee * 9 / 100);
        emit(&row.fields)?;
    }
    Ok(())
}

/// Builds one row's fields in header order, reusing its buffers.
struct RowBuilder {
    flavor: Flavor,
    fields: Vec<String>,
    counter: u64,
}

impl RowBuilder {
    fn new(options: &GenerateOptions) -> RowBuilder {
        RowBuilder {
            flavor: options.flavor,
            fields: vec![String::new(); Column::ALL.len()],
            counter: 0,
        }
    }

    fn null(&self) -> &'static str {
        match self.flavor {
            Flavor::Export => "NULL",
            Flavor::Clickhouse => "\\N",
        }
    }

    fn set(&mut self, column: Column, value: impl AsRef<str>) {
        let field = &mut self.fields[column.index()];
        field.clear();
        field.push_str(value.as_ref());
    }

    fn set_null(&mut self, column: Column) {
        let null = self.null();
        self.set(column, null);
    }

    fn timestamp(&self, provider: &Provider, day: NaiveDate) -> String {
        if provider.iso_timestamps && self.flavor == Flavor::Export {
            day.format("%Y-%m-%dT00:00:00Z").to_string()
        } else {
            day.format("%Y-%m-%d 00:00:00").to_string()
        }
    }

    fn common(
        &mut self,
        provider: &Provider,
        charge_from: NaiveDate,
        charge_to: NaiveDate,
        month: NaiveDate,
        month_end: NaiveDate,
    ) {
        self.counter += 1;
        for column in Column::ALL {
            self.set_null(column);
        }
        self.set(Column::BillingAccountId, provider.account);
        self.set(Column::BillingAccountName, provider.account_name);
        self.set(Column::BillingCurrency, "USD");
        let (bps, bpe) = (
            self.timestamp(provider, month),
            self.timestamp(provider, month_end),
        );
        self.set(Column::BillingPeriodStart, bps);
        self.set(Column::BillingPeriodEnd, bpe);
        let (cps, cpe) = (
            self.timestamp(provider, charge_from),
            self.timestamp(provider, charge_to),
        );
        self.set(Column::ChargePeriodStart, cps);
        self.set(Column::ChargePeriodEnd, cpe);
        self.set(Column::InvoiceIssuer, provider.name);
        self.set(Column::Provider, provider.name);
        self.set(Column::Publisher, provider.name);
        self.set(
            Column::InvoiceId,
            format!("INV-{}-{}", provider.account, month.format("%Y%m")),
        );
        self.set(Column::Tags, "");
    }

    #[allow(clippy::too_many_arguments)]
    fn usage(
        &mut self,
        rng: &mut ChaCha8Rng,
        r: &Resource,
        day: NaiveDate,
        month: NaiveDate,
        month_end: NaiveDate,
        quantity: i64,
        billed: i128,
    ) {
        let p = &PROVIDERS[r.provider];
        let s = &p.services[r.service];
        self.common(p, day, day + chrono::Days::new(1), month, month_end);
        let (region_id, region_name) = p.regions[r.region];
        let (sub_id, sub_name) = p.sub_accounts[r.sub_account];
        let list = billed;
        let (billed, effective, contracted) = if r.covered_by_savings_plan {
            let amortized = billed * SAVINGS_PLAN_RATE_PERCENT / 100;
            (0, amortized, amortized)
        } else {
            (billed, billed, billed)
        };
        self.set(Column::ChargeCategory, "Usage");
        self.set(
            Column::ChargeDescription,
            compute_description(p.name, s.name, region_id, r.unit_price_micros)
                .unwrap_or_else(|| format!("{} {} in {region_id}", s.name, s.unit)),
        );
        self.set(Column::ChargeFrequency, "Usage-Based");
        self.set(Column::BilledCost, money(billed, p));
        self.set(Column::EffectiveCost, money(effective, p));
        self.set(Column::ListCost, money(list, p));
        self.set(Column::ContractedCost, money(contracted, p));
        self.set(
            Column::ListUnitPrice,
            money(i128::from(r.unit_price_micros) * 1_000_000_000, p),
        );
        self.set(
            Column::ContractedUnitPrice,
            money(
                i128::from(r.unit_price_micros) * 1_000_000_000 * contracted / list.max(1),
                p,
            ),
        );
        let qty = money(i128::from(quantity) * 1_000_000_000, p);
        self.set(Column::PricingQuantity, &qty);
        self.set(Column::ConsumedQuantity, &qty);
        self.set(Column::PricingUnit, s.unit);
        self.set(Column::ConsumedUnit, s.unit);
        self.set(
            Column::PricingCategory,
            if r.covered_by_savings_plan {
                "Committed"
            } else {
                "Standard"
            },
        );
        self.set(Column::ServiceCategory, s.category);
        self.set(Column::ServiceName, s.name);
        self.set(Column::ResourceId, &r.id);
        self.set(Column::ResourceName, &r.name);
        self.set(Column::ResourceType, s.resource_type);
        self.set(Column::RegionId, region_id);
        self.set(Column::RegionName, region_name);
        if !r.zone.is_empty() {
            self.set(Column::AvailabilityZone, &r.zone);
        }
        self.set(Column::SkuId, s.sku);
        self.set(Column::SkuPriceId, format!("{}-{region_id}", s.sku));
        self.set(Column::SubAccountId, sub_id);
        self.set(Column::SubAccountName, sub_name);
        if r.covered_by_savings_plan {
            self.set(Column::CommitmentDiscountId, SAVINGS_PLAN_ID);
            self.set(Column::CommitmentDiscountName, "Compute Savings Plan 1y");
            self.set(Column::CommitmentDiscountCategory, "Spend");
            self.set(Column::CommitmentDiscountStatus, "Used");
            self.set(Column::CommitmentDiscountType, "Compute Savings Plan");
        }
        if r.tags.is_empty() {
            let empty = if self.counter % 2 == 0 {
                "{}"
            } else {
                self.null()
            };
            self.set(Column::Tags, empty);
        } else {
            self.set(Column::Tags, &r.tags);
        }
        // Deviations seen in real exports: odd enumeration casing, an empty mandatory name.
        // Drawn in every flavor so both flavors carry the same amounts.
        let (odd_casing, empty_name) = (rng.gen_ratio(1, 400), rng.gen_ratio(1, 200));
        if self.flavor == Flavor::Export {
            if p.name == "Microsoft" && odd_casing {
                self.set(Column::ChargeCategory, "usage");
            }
            if p.name == "Google Cloud" && empty_name {
                self.set(Column::BillingAccountName, "");
            }
        }
    }

    fn charge(
        &mut self,
        p: &Provider,
        month: NaiveDate,
        month_end: NaiveDate,
        category: &str,
        amount: i128,
        description: &str,
    ) {
        self.common(p, month, month_end, month, month_end);
        self.set(Column::ChargeCategory, category);
        self.set(Column::ChargeDescription, description);
        self.set(Column::ChargeFrequency, "Recurring");
        for column in [
            Column::BilledCost,
            Column::EffectiveCost,
            Column::ListCost,
            Column::ContractedCost,
        ] {
            self.set(column, money(amount, p));
        }
        self.set(Column::ServiceCategory, "Other");
        self.set(
            Column::ServiceName,
            if category == "Tax" { "Tax" } else { "Credits" },
        );
        self.set(Column::SubAccountId, p.sub_accounts[0].0);
        self.set(Column::SubAccountName, p.sub_accounts[0].1);
    }

    fn savings_plan(&mut self, month: NaiveDate, month_end: NaiveDate, kind: &str, amount: i128) {
        let p = &PROVIDERS[0];
        self.common(p, month, month_end, month, month_end);
        self.set(Column::ChargeFrequency, "Recurring");
        self.set(Column::ServiceCategory, "Compute");
        self.set(Column::ServiceName, "Savings Plans for AWS Compute usage");
        self.set(Column::PricingCategory, "Committed");
        self.set(Column::CommitmentDiscountId, SAVINGS_PLAN_ID);
        self.set(Column::CommitmentDiscountName, "Compute Savings Plan 1y");
        self.set(Column::CommitmentDiscountCategory, "Spend");
        self.set(Column::CommitmentDiscountType, "Compute Savings Plan");
        self.set(Column::SubAccountId, p.sub_accounts[0].0);
        self.set(Column::SubAccountName, p.sub_accounts[0].1);
        if kind == "Purchase" {
            // Paid monthly in full; its effective cost is spread over the covered usage rows.
            self.set(Column::ChargeCategory, "Purchase");
            self.set(
                Column::ChargeDescription,
                "Compute Savings Plan monthly commitment",
            );
            self.set(Column::BilledCost, money(amount, p));
            self.set(Column::EffectiveCost, money(0, p));
        } else {
            self.set(Column::ChargeCategory, "Usage");
            self.set(Column::ChargeDescription, "Unused Savings Plan commitment");
            self.set(Column::CommitmentDiscountStatus, "Unused");
            self.set(Column::BilledCost, money(0, p));
            self.set(Column::EffectiveCost, money(amount, p));
        }
        self.set(Column::ListCost, money(0, p));
        self.set(Column::ContractedCost, money(amount, p));
    }
}

/// An EC2 instance id (`i-` and 17 hex digits), the same for a resource index in every run.
fn ec2_instance_id(index: usize) -> String {
    // SplitMix64's finalizer: well spread, no random draw.
    let mut x = (index as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("i-0{:016x}", x ^ (x >> 31))
}

/// EC2 Linux on-demand types by their us-east-1 hourly price in millionths of a dollar.
const EC2_TYPES: [(&str, i64); 17] = [
    ("t3.medium", 41_600),
    ("c5.large", 85_000),
    ("m5.large", 96_000),
    ("r5.large", 126_000),
    ("c5.xlarge", 170_000),
    ("m5.xlarge", 192_000),
    ("r5.xlarge", 252_000),
    ("c5.2xlarge", 340_000),
    ("m5.2xlarge", 384_000),
    ("r5.2xlarge", 504_000),
    ("c5.4xlarge", 680_000),
    ("m5.4xlarge", 768_000),
    ("r5.4xlarge", 1_008_000),
    ("g5.4xlarge", 1_624_000),
    ("g5.8xlarge", 2_448_000),
    ("p3.2xlarge", 3_060_000),
    ("g4dn.xlarge", 526_000),
];

/// Azure VM meters (series, meter) by their eastus hourly price in millionths of a dollar.
const AZURE_SIZES: [(&str, &str, i64); 12] = [
    ("BS", "B2s", 41_600),
    ("Dsv5", "D2s v5", 96_000),
    ("Dasv5", "D4as v5", 172_000),
    ("Dsv5", "D4s v5", 192_000),
    ("Esv5", "E4s v5", 252_000),
    ("Dasv5", "D8as v5", 344_000),
    ("Dsv5", "D8s v5", 384_000),
    ("Esv5", "E8s v5", 504_000),
    ("Dasv5", "D32as v5", 1_376_000),
    ("Dsv5", "D32s v5", 1_536_000),
    ("Esv5", "E32s v5", 2_016_000),
    ("Dasv5", "D64as v5", 2_752_000),
];

/// The entry whose price is nearest `price` (ties: the first).
fn nearest<T: Copy>(entries: impl Iterator<Item = (T, i64)>, price: i64) -> Option<T> {
    entries
        .min_by_key(|(_, p)| (p - price).abs())
        .map(|(entry, _)| entry)
}

/// A compute instance's charge description as its provider's export writes it: the CUR line
/// item description of EC2 (`$0.192 per On Demand Linux m5.xlarge Instance Hour`, kept on
/// Savings Plan covered usage) and Azure's product name (`Virtual Machines Dsv5 Series - D4s v5 -
/// US East`). The instance is the one whose list price is nearest the resource's unit price.
fn compute_description(
    provider: &str,
    service: &str,
    region: &str,
    unit_price_micros: i64,
) -> Option<String> {
    match (provider, service) {
        ("AWS", "Amazon Elastic Compute Cloud") => {
            let instance = nearest(EC2_TYPES.iter().copied(), unit_price_micros)?;
            let price = format!(
                "{}.{:06}",
                unit_price_micros / 1_000_000,
                unit_price_micros % 1_000_000
            );
            let price = price.trim_end_matches('0').trim_end_matches('.');
            Some(format!(
                "${price} per On Demand Linux {instance} Instance Hour"
            ))
        }
        ("Microsoft", "Virtual Machines") => {
            let (series, meter) = nearest(
                AZURE_SIZES.iter().map(|&(s, m, p)| ((s, m), p)),
                unit_price_micros,
            )?;
            let place = match region {
                "eastus" => "US East",
                "westeurope" => "EU West",
                other => other,
            };
            Some(format!(
                "Virtual Machines {series} Series - {meter} - {place}"
            ))
        }
        _ => None,
    }
}

/// An amount with 15 fractional digits: AWS prints them all, others trim trailing zeros.
fn money(value: i128, provider: &Provider) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let (int, frac) = (abs / SCALE15 as u128, abs % SCALE15 as u128);
    let frac = format!("{frac:015}");
    if provider.name == "AWS" {
        format!("{sign}{int}.{frac}")
    } else {
        let trimmed = frac.trim_end_matches('0');
        if trimmed.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{trimmed}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_requested_row_count() {
        let options = GenerateOptions {
            rows: 3_000,
            ..GenerateOptions::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let summary = write_csv(&options, &mut a).unwrap();
        write_csv(&options, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(summary.rows, 3_000);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 3_001);
        for needle in [
            "Purchase",
            "Credit",
            "Tax",
            "Committed",
            "\"team\"",
            "NULL",
            "Z,",
        ] {
            assert!(text.contains(needle), "generated data lacks {needle}");
        }
    }

    #[test]
    fn compute_rows_read_like_real_exports() {
        assert_eq!(
            compute_description("AWS", "Amazon Elastic Compute Cloud", "us-east-1", 190_000)
                .as_deref(),
            Some("$0.19 per On Demand Linux m5.xlarge Instance Hour")
        );
        assert_eq!(
            compute_description("Microsoft", "Virtual Machines", "eastus", 180_000).as_deref(),
            Some("Virtual Machines Dasv5 Series - D4as v5 - US East")
        );
        assert_eq!(
            compute_description("AWS", "AWS Lambda", "us-east-1", 200),
            None
        );
        let id = ec2_instance_id(7);
        assert!(id.len() == 19 && id.starts_with("i-0"), "{id}");
        assert_ne!(id, ec2_instance_id(8));
        // Every EC2 row names its instance, by id and type.
        let options = GenerateOptions {
            rows: 2_000,
            ..GenerateOptions::default()
        };
        let mut ec2 = 0;
        for_each_row(&options, |row| {
            if row[Column::ServiceName.index()] == "Amazon Elastic Compute Cloud" {
                ec2 += 1;
                assert!(
                    row[Column::ResourceId.index()].contains(":instance/i-0"),
                    "{row:?}"
                );
                assert!(
                    row[Column::ChargeDescription.index()].ends_with(" Instance Hour"),
                    "{row:?}"
                );
            }
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(ec2 > 0);
    }

    #[test]
    fn money_keeps_fifteen_digits() {
        assert_eq!(
            money(1_234_500_000_000_000, &PROVIDERS[0]),
            "1.234500000000000"
        );
        assert_eq!(money(-1_234_500_000_000_000, &PROVIDERS[1]), "-1.2345");
        assert_eq!(money(0, &PROVIDERS[2]), "0");
    }
}

/// A gzip writer for `.csv.gz` output.
pub type GzWriter = flate2::write::GzEncoder<Box<dyn Write>>;

pub fn gz_writer(out: Box<dyn Write>) -> GzWriter {
    flate2::write::GzEncoder::new(out, flate2::Compression::fast())
}

/// Writes rows as Parquet, one row group per `rows_per_group` rows. Timestamps are typed
/// (`Datetime(ms, UTC)`) as in real exports; amounts stay text so they keep all 15 digits.
pub fn write_parquet(
    options: &GenerateOptions,
    path: &std::path::Path,
    rows_per_group: usize,
) -> polars::prelude::PolarsResult<GenerateSummary> {
    use polars::prelude::{DataFrame, DataType, ParquetWriter, TimeUnit, TimeZone};

    let names = headers(options.version);
    let timestamp_columns = [
        Column::BillingPeriodStart,
        Column::BillingPeriodEnd,
        Column::ChargePeriodStart,
        Column::ChargePeriodEnd,
    ];
    let to_frame = |chunk: &[Vec<String>]| -> polars::prelude::PolarsResult<DataFrame> {
        let columns = Column::ALL
            .iter()
            .zip(&names)
            .map(|(column, name)| {
                let values: Vec<Option<&str>> = chunk
                    .iter()
                    .map(|row| {
                        Some(row[column.index()].as_str())
                            .filter(|v| !crate::focus::values::is_null(v))
                    })
                    .collect();
                if timestamp_columns.contains(column) {
                    let millis: Vec<Option<i64>> = values
                        .iter()
                        .map(|v| {
                            v.and_then(crate::focus::values::parse_timestamp)
                                .map(|s| i64::from(s) * 1000)
                        })
                        .collect();
                    polars::prelude::Column::new((*name).into(), millis).cast(&DataType::Datetime(
                        TimeUnit::Milliseconds,
                        Some(TimeZone::UTC),
                    ))
                } else {
                    Ok(polars::prelude::Column::new((*name).into(), values))
                }
            })
            .collect::<polars::prelude::PolarsResult<Vec<_>>>()?;
        DataFrame::new(chunk.len(), columns)
    };
    let file = std::fs::File::create(path)?;
    let mut writer: Option<polars::prelude::BatchedWriter<std::fs::File>> = None;
    let mut file = Some(file);
    let mut chunk: Vec<Vec<String>> = Vec::with_capacity(rows_per_group);
    let mut rows = 0u64;
    let mut flush = |chunk: &mut Vec<Vec<String>>,
                     writer: &mut Option<polars::prelude::BatchedWriter<std::fs::File>>|
     -> polars::prelude::PolarsResult<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let df = to_frame(chunk)?;
        if writer.is_none() {
            *writer = Some(
                ParquetWriter::new(file.take().expect("file used once")).batched(df.schema())?,
            );
        }
        writer.as_mut().expect("writer created").write_batch(&df)?;
        chunk.clear();
        Ok(())
    };
    for_each_row(options, |row| {
        rows += 1;
        chunk.push(row.to_vec());
        if chunk.len() == rows_per_group {
            flush(&mut chunk, &mut writer)?;
        }
        Ok::<(), polars::prelude::PolarsError>(())
    })?;
    flush(&mut chunk, &mut writer)?;
    if let Some(writer) = writer {
        writer.finish()?;
    }
    Ok(GenerateSummary { rows })
}

/// Daily per-service metrics matching the generated services, for proportional pools:
/// `kafka_bytes` (producers), `table_bytes` (databases), `key_count` (caches). Some days of
/// `kafka_bytes` are missing, as real metric pipelines have gaps.
pub fn write_metrics_csv<W: Write>(options: &GenerateOptions, out: W) -> std::io::Result<u64> {
    const METRICS: [(&str, &[&str]); 3] = [
        (
            "kafka_bytes",
            &[
                "events-pipeline",
                "payments-api",
                "search-api",
                "indexer",
                "notifications",
                "cdc",
            ],
        ),
        (
            "table_bytes",
            &[
                "ledger",
                "payments-api",
                "user-profile",
                "cart",
                "pricing",
                "warehouse",
            ],
        ),
        (
            "key_count",
            &[
                "cart",
                "user-profile",
                "query-suggest",
                "feature-store",
                "experiments",
            ],
        ),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x6d65_7472_6963);
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(["date", "metric", "service", "value"])?;
    let days = (options.start + Months::new(options.months.max(1)) - options.start).num_days();
    let mut rows = 0;
    for (m, (metric, services)) in METRICS.iter().enumerate() {
        let base: Vec<i64> = services
            .iter()
            .map(|_| rng.gen_range(1_000..50_000))
            .collect();
        for day in 0..days {
            if *metric == "kafka_bytes" && day % 17 == 5 {
                continue;
            }
            let date = options.start + chrono::Days::new(day as u64);
            for (s, service) in services.iter().enumerate() {
                let growth = 1_000 + day * (s as i64 + m as i64 + 1);
                let noise = rng.gen_range(900..1_100);
                let value = base[s] * growth / 1_000 * noise / 1_000;
                writer.write_record([
                    date.to_string(),
                    metric.to_string(),
                    service.to_string(),
                    value.to_string(),
                ])?;
                rows += 1;
            }
        }
    }
    writer.flush()?;
    Ok(rows)
}
