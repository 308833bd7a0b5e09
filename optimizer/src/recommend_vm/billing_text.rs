//! What a billing row says about the VM it charges for: FOCUS has no instance-type column (1.1's
//! SkuPriceDetails is not stored), so the type is read from `ChargeDescription` where the provider
//! writes one there.
//!
//! - **AWS** (CUR `line_item_line_item_description`, which AWS's FOCUS export carries as
//!   ChargeDescription): `$0.192 per On Demand Linux m5.xlarge Instance Hour` (on demand, and
//!   Savings Plan covered usage, which keeps the on-demand text), `USD 0.0416 per Linux/UNIX
//!   (Amazon VPC), t3.medium reserved instance applied` or `Linux/UNIX (Amazon VPC), m4.large
//!   reserved instance applied` (a reservation), `$0.0624 per Linux/UNIX (Amazon VPC), m5.xlarge
//!   Spot Instance-hour` or `c4.large Linux/UNIX Spot Instance-hour in US West (Oregon) in VPC Zone
//!   #1` (spot). Other operating systems say so (`On Demand Windows`, `RHEL`, `SUSE`, `Linux with
//!   SQL Std`, `Windows (Amazon VPC)`); RDS, ElastiCache or SageMaker types (`db.m5.large`,
//!   `cache.r6g.large`, `ml.m5.xlarge`) are not EC2 instances.
//! - **Azure** (Microsoft's FOCUS export takes ChargeDescription from the cost details'
//!   ProductName): `Virtual Machines Dsv5 Series - D4s v5 - US East`, `Virtual Machines Dv2 Series
//!   Windows - D12 v2 - IN Central`, `Virtual Machines Dv3/DSv3 Series - D8 v3/D8s v3 - US South
//!   Central` (a meter shared by two sizes); the meter `D4s v5` is the size `Standard_D4s_v5`, with
//!   ` Spot` or ` Low Priority` after it for evicted capacity. No `Windows` in the series: Linux.
//! - **GCP**: SKU descriptions name a machine series and a resource (`N2 Instance Core running in
//!   Americas`), never a machine type: no GCP row names an instance.
use serde::Serialize;

/// How the hours were bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purchase {
    /// On demand, or covered by a spend commitment (a Savings Plan keeps the on-demand text).
    OnDemand,
    /// A reservation applied to the hours.
    Reserved,
    /// Spot, or Azure's spot and low-priority meters.
    Spot,
}

/// An instance type as a billing row names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BilledInstance {
    /// Catalog instance types, the likeliest first (an Azure meter may name two sizes).
    pub types: Vec<String>,
    /// `Linux`, or the other operating system (or tenancy) the text names: the catalog's prices
    /// are Linux prices on shared hosts, so only Linux hours compare with them.
    pub os: String,
    pub purchase: Purchase,
}

impl BilledInstance {
    pub fn is_linux(&self) -> bool {
        self.os == "Linux"
    }
}

/// The catalog's provider name for a FOCUS `Provider` (`AWS`, `Amazon Web Services`, `Microsoft`,
/// `Google Cloud`, …); other providers by their lowercase name.
pub fn catalog_provider(focus_provider: &str) -> String {
    let lower = focus_provider.trim().to_ascii_lowercase();
    if lower == "aws" || lower.contains("amazon") {
        "aws".into()
    } else if lower.contains("microsoft") || lower.contains("azure") {
        "azure".into()
    } else if lower.contains("google") || lower == "gcp" {
        "gcp".into()
    } else {
        lower
    }
}

/// The instance a billing row charges for, from its catalog provider and description; None when
/// the text names none (not a VM, or a provider whose text never does).
pub fn billed_instance(provider: &str, description: &str) -> Option<BilledInstance> {
    match provider {
        "aws" => aws(description),
        "azure" => azure(description),
        _ => None,
    }
}

/// An EC2 type: `family.size`, the family a letter then letters, digits or dashes with at least one
/// digit (`m5`, `m7i-flex`, `u-6tb1`), the size one of EC2's (`large`, `12xlarge`, `metal-24xl`).
fn is_ec2_type(token: &str) -> bool {
    let Some((family, size)) = token.split_once('.') else {
        return false;
    };
    let family_ok = family.starts_with(|c: char| c.is_ascii_lowercase())
        && family.chars().any(|c| c.is_ascii_digit())
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let digits_then = |suffix: &str| {
        size.strip_suffix(suffix)
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    };
    let size_ok = ["nano", "micro", "small", "medium", "large", "metal"].contains(&size)
        || digits_then("xlarge")
        || size.strip_prefix("metal-").is_some_and(|n| {
            n.ends_with("xl") && n[..n.len() - 2].chars().all(|c| c.is_ascii_digit())
        });
    family_ok && size_ok
}

fn aws(description: &str) -> Option<BilledInstance> {
    let lower = description.to_ascii_lowercase();
    let purchase = if lower.contains("spot instance-hour") || lower.contains("spot instance hour") {
        Purchase::Spot
    } else if lower.contains("reserved instance applied") {
        Purchase::Reserved
    } else if lower.contains("instance hour") {
        Purchase::OnDemand
    } else {
        return None;
    };
    let instance_type = description
        .split(|c: char| c.is_whitespace() || c == ',')
        .find(|t| is_ec2_type(t))?;
    // Checked in this order: `Linux with SQL Std` is SQL Server, `Red Hat Enterprise Linux` RHEL.
    const OTHER: [(&str, &str); 7] = [
        ("windows", "Windows"),
        ("sql", "SQL Server"),
        ("rhel", "RHEL"),
        ("red hat", "RHEL"),
        ("suse", "SUSE"),
        ("ubuntu pro", "Ubuntu Pro"),
        ("dedicated", "dedicated tenancy"),
    ];
    let os = OTHER
        .iter()
        .find(|(marker, _)| lower.contains(marker))
        .map(|(_, os)| os.to_string())
        .or_else(|| lower.contains("linux").then(|| "Linux".to_string()))
        .unwrap_or_else(|| "unknown".to_string());
    Some(BilledInstance {
        types: vec![instance_type.to_string()],
        os,
        purchase,
    })
}

/// An Azure meter's size (`D4s v5`, `B1s`, `NC24ads A100 v4`) as its ARM name (`Standard_D4s_v5`).
fn azure_size(meter: &str) -> Option<String> {
    let words: Vec<&str> = meter.split_whitespace().collect();
    let first = words.first()?;
    let ok = first.starts_with(|c: char| c.is_ascii_uppercase())
        && first.chars().any(|c| c.is_ascii_digit())
        && words
            .iter()
            .all(|w| w.chars().all(|c| c.is_ascii_alphanumeric()));
    ok.then(|| format!("Standard_{}", words.join("_")))
}

fn azure(description: &str) -> Option<BilledInstance> {
    let parts: Vec<&str> = description.split(" - ").map(str::trim).collect();
    let (series, meter) = (parts.first()?, parts.get(1)?);
    if !series.starts_with("Virtual Machines ") {
        return None;
    }
    let (meter, purchase) = if let Some(m) = meter.strip_suffix(" Spot") {
        (m, Purchase::Spot)
    } else if let Some(m) = meter.strip_suffix(" Low Priority") {
        (m, Purchase::Spot)
    } else {
        (*meter, Purchase::OnDemand)
    };
    let types: Vec<String> = meter
        .split('/')
        .map(azure_size)
        .collect::<Option<Vec<String>>>()?;
    let os = if series.split_whitespace().any(|w| w == "Windows") {
        "Windows"
    } else {
        "Linux"
    };
    Some(BilledInstance {
        types,
        os: os.into(),
        purchase,
    })
}

/// Whether a pricing or consumed unit counts hours (`Hours`, `Hrs`, `hour`, `1 Hour`): the unit
/// filter of sql/recommend_vm_usage.sql.
pub fn is_hours(unit: &str) -> bool {
    matches!(
        unit.trim().to_ascii_lowercase().as_str(),
        "hours" | "hour" | "hrs" | "hr" | "h" | "1 hour"
    )
}

/// The instance id in a Kubernetes providerID or a billing ResourceId, as the allocator matches
/// node billing rows: the last `/`-separated segment (`i-0abc` of `aws:///us-east-1a/i-0abc` and
/// of `arn:aws:ec2:us-east-1:1:instance/i-0abc`).
pub fn instance_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_descriptions_name_their_instance_os_and_purchase() {
        let aws = |text| billed_instance("aws", text);
        let on_demand = aws("$0.192 per On Demand Linux m5.xlarge Instance Hour").unwrap();
        assert_eq!(on_demand.types, ["m5.xlarge"]);
        assert!(on_demand.is_linux());
        assert_eq!(on_demand.purchase, Purchase::OnDemand);
        let reserved =
            aws("USD 0.0416 per Linux/UNIX (Amazon VPC), t3.medium reserved instance applied")
                .unwrap();
        assert_eq!(
            (reserved.types[0].as_str(), reserved.purchase),
            ("t3.medium", Purchase::Reserved)
        );
        assert!(reserved.is_linux());
        let old = aws("Linux/UNIX (Amazon VPC), m4.large reserved instance applied").unwrap();
        assert_eq!(old.types, ["m4.large"]);
        let spot = aws("c4.large Linux/UNIX Spot Instance-hour in US West (Oregon) in VPC Zone #1")
            .unwrap();
        assert_eq!(
            (spot.types[0].as_str(), spot.purchase),
            ("c4.large", Purchase::Spot)
        );
        assert_eq!(
            aws("$0.0052 per On Demand Linux t3.nano Instance Hour")
                .unwrap()
                .types,
            ["t3.nano"]
        );
        assert_eq!(
            aws("$0.384 per On Demand Windows m5.xlarge Instance Hour")
                .unwrap()
                .os,
            "Windows"
        );
        assert_eq!(
            aws("$0.252 per On Demand RHEL m5.xlarge Instance Hour")
                .unwrap()
                .os,
            "RHEL"
        );
        assert_eq!(
            aws("$0.8 per On Demand Linux with SQL Std m5.xlarge Instance Hour")
                .unwrap()
                .os,
            "SQL Server"
        );
        assert_eq!(
            aws("Windows (Amazon VPC), c5.xlarge reserved instance applied")
                .unwrap()
                .os,
            "Windows"
        );
        assert_eq!(
            aws("$0.528 per On Demand Linux p3dn.24xlarge Instance Hour")
                .unwrap()
                .types,
            ["p3dn.24xlarge"]
        );
        // Not EC2 instances, or not instance hours.
        for text in [
        "$0.17 per RDS db.m5.large instance hour (or partial hour) running MySQL",
        "SavingsPlanNegation used by AccountId : 5555555555555 and UsageSku : K7ERD2Q28HHU97DT",
        "$0.08 per GB-month of General Purpose (gp3) provisioned storage - US East (Northern Virginia)",
        "$0.048 per hour for EMR m5.xlarge",
        "Compute Savings Plan monthly commitment",
    ] {
        assert_eq!(aws(text), None, "{text}");
    }
    }

    #[test]
    fn azure_product_names_name_their_size_and_gcp_skus_none() {
        let azure = |text| billed_instance("azure", text);
        let d4s = azure("Virtual Machines Dsv5 Series - D4s v5 - US East").unwrap();
        assert_eq!(
            (d4s.types.as_slice(), d4s.os.as_str(), d4s.purchase),
            (
                &["Standard_D4s_v5".to_string()][..],
                "Linux",
                Purchase::OnDemand
            )
        );
        assert_eq!(
            azure("Virtual Machines BS Series - B1s - US South Central")
                .unwrap()
                .types,
            ["Standard_B1s"]
        );
        let windows = azure("Virtual Machines Dv2 Series Windows - D12 v2 - IN Central").unwrap();
        assert_eq!(
            (windows.types[0].as_str(), windows.os.as_str()),
            ("Standard_D12_v2", "Windows")
        );
        assert_eq!(
            azure("Virtual Machines Dv3/DSv3 Series - D8 v3/D8s v3 - US South Central")
                .unwrap()
                .types,
            ["Standard_D8_v3", "Standard_D8s_v3"]
        );
        assert_eq!(
            azure("Virtual Machines Dsv5 Series - D4s v5 Spot - US East")
                .unwrap()
                .purchase,
            Purchase::Spot
        );
        assert_eq!(
            azure("Virtual Machines Dsv5 Series - D2s v5 Low Priority - EU West")
                .unwrap()
                .purchase,
            Purchase::Spot
        );
        assert_eq!(
            azure("Virtual Machines NCads A100 v4 Series - NC24ads A100 v4 - US East")
                .unwrap()
                .types,
            ["Standard_NC24ads_A100_v4"]
        );
        assert_eq!(
            azure("Storage - Standard SSD Managed Disks - E10 LRS - US West"),
            None
        );
        assert_eq!(azure("Virtual Machines Dsv5 Series"), None);
        assert_eq!(
            billed_instance("gcp", "N2 Instance Core running in Americas"),
            None
        );
        assert_eq!(
            [
                "AWS",
                "Amazon Web Services",
                "Microsoft",
                "Google Cloud",
                "Lambda"
            ]
            .map(catalog_provider),
            ["aws", "aws", "azure", "gcp", "lambda"]
        );
        assert_eq!(
            instance_id("arn:aws:ec2:us-east-1:1:instance/i-0abc"),
            "i-0abc"
        );
        assert_eq!(instance_id("aws:///us-east-1a/i-0abc"), "i-0abc");
    }
}
