//! The catalog's shapes and list prices, and what billing shows the user pays per hour.
use std::collections::{BTreeMap, HashMap, HashSet};

use rust_decimal::Decimal;

use super::billed::UsageRow;
use super::billing_text::{billed_instance, catalog_provider, Purchase};
use crate::catalog::Offer;
use crate::recommend::{dec, RecommendError};

/// The catalog's offers by provider and type: shapes and list prices.
pub struct CatalogView<'a> {
    by_type: HashMap<(&'a str, &'a str), Vec<&'a Offer>>,
    regions: HashSet<(&'a str, &'a str)>,
}

impl<'a> CatalogView<'a> {
    pub fn new(offers: &'a [Offer]) -> CatalogView<'a> {
        let mut by_type: HashMap<(&str, &str), Vec<&Offer>> = HashMap::new();
        let mut regions = HashSet::new();
        for offer in offers {
            by_type
                .entry((&offer.provider, &offer.instance_type))
                .or_default()
                .push(offer);
            regions.insert((offer.provider.as_str(), offer.region.as_str()));
        }
        CatalogView { by_type, regions }
    }

    /// The catalog region of a billed one: RegionId as it is or in lowercase, else RegionName
    /// in lowercase without spaces (`East US` → `eastus`).
    pub fn region(&self, provider: &str, region_id: &str, region_name: &str) -> Option<String> {
        let squeezed: String = region_name
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        [
            region_id.trim().to_string(),
            region_id.trim().to_ascii_lowercase(),
            squeezed,
        ]
        .into_iter()
        .find(|r| !r.is_empty() && self.regions.contains(&(provider, r.as_str())))
    }

    /// The first of `types` the catalog has for the provider, with its offer in `region` (else
    /// in any region) for the shape.
    pub fn shape(&self, provider: &str, types: &[String], region: &str) -> Option<&'a Offer> {
        types.iter().find_map(|t| {
            let offers = self.by_type.get(&(provider, t.as_str()))?;
            offers
                .iter()
                .find(|o| o.region == region)
                .or_else(|| offers.first())
                .copied()
        })
    }

    /// A type's lowest on-demand and spot prices in a region.
    pub fn prices(
        &self,
        provider: &str,
        instance_type: &str,
        region: &str,
    ) -> (Option<Decimal>, Option<Decimal>) {
        let offers = self
            .by_type
            .get(&(provider, instance_type))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let lowest = |spot: bool| {
            offers
                .iter()
                .filter(|o| o.region == region)
                .filter_map(|o| o.price(spot))
                .min()
        };
        (lowest(false), lowest(true))
    }
}

/// Where an on-demand candidate's hourly rate comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum RateSource {
    /// Billing shows the type in the region: effective cost / hours.
    Billed {
        hours: Decimal,
        effective: Decimal,
    },
    /// The catalog's price × the provider's observed discount.
    Discounted {
        discount: Decimal,
    },
    Catalog,
}

impl RateSource {
    pub fn describe(&self) -> String {
        match self {
            RateSource::Billed { .. } => "billed effective rate".into(),
            RateSource::Discounted { discount } => {
                format!(
                    "catalog on-demand × observed discount {}",
                    discount.normalize()
                )
            }
            RateSource::Catalog => "catalog on-demand".into(),
        }
    }
}

/// What billing shows the user pays per hour: per provider, region and type, and the provider's
/// discount against the catalog.
#[derive(Debug, Clone, Default)]
pub struct BilledRates {
    /// (provider, region, type) → (hours, effective cost)
    by_type: BTreeMap<(String, String, String), (Decimal, Decimal)>,
    /// provider → (effective cost, catalog on-demand price × hours)
    by_provider: BTreeMap<String, (Decimal, Decimal)>,
}

impl BilledRates {
    /// From the non-spot Linux USD rows of instances the catalog knows.
    pub fn new(rows: &[UsageRow], view: &CatalogView<'_>) -> Result<BilledRates, RecommendError> {
        let mut rates = BilledRates::default();
        for row in rows {
            let provider = catalog_provider(&row.provider);
            let Some(instance) = billed_instance(&provider, &row.description) else {
                continue;
            };
            let spot = instance.purchase == Purchase::Spot || row.pricing_category == "Dynamic";
            if spot || !instance.is_linux() || row.currency != "USD" {
                continue;
            }
            let Some(region) = view.region(&provider, &row.region_id, &row.region_name) else {
                continue;
            };
            let Some(shape) = view.shape(&provider, &instance.types, &region) else {
                continue;
            };
            let hours = row.hours()?;
            if hours <= Decimal::ZERO {
                continue;
            }
            let effective = dec(row.effective, "effective cost")?;
            let slot = rates
                .by_type
                .entry((
                    provider.clone(),
                    region.clone(),
                    shape.instance_type.clone(),
                ))
                .or_default();
            slot.0 += hours;
            slot.1 += effective;
            if let (Some(list), _) = view.prices(&provider, &shape.instance_type, &region) {
                let slot = rates.by_provider.entry(provider).or_default();
                slot.0 += effective;
                slot.1 += list * hours;
            }
        }
        Ok(rates)
    }

    /// Hours and effective cost billed for a type in a region.
    pub fn billed(
        &self,
        provider: &str,
        region: &str,
        instance_type: &str,
    ) -> Option<(Decimal, Decimal)> {
        self.by_type
            .get(&(provider.into(), region.into(), instance_type.into()))
            .copied()
            .filter(|(hours, _)| *hours > Decimal::ZERO)
    }

    /// The provider's effective cost / catalog on-demand cost of the same hours, to 6 decimals.
    pub fn discount(&self, provider: &str) -> Option<Decimal> {
        self.by_provider
            .get(provider)
            .filter(|(_, list)| *list > Decimal::ZERO)
            .map(|(effective, list)| (effective / list).round_dp(6))
    }

    /// An on-demand offer's hourly rate for this user (see the module notes).
    pub fn on_demand(
        &self,
        provider: &str,
        region: &str,
        instance_type: &str,
        catalog: Decimal,
    ) -> (Decimal, RateSource) {
        if let Some((hours, effective)) = self.billed(provider, region, instance_type) {
            return (effective / hours, RateSource::Billed { hours, effective });
        }
        match self.discount(provider) {
            Some(discount) => (catalog * discount, RateSource::Discounted { discount }),
            None => (catalog, RateSource::Catalog),
        }
    }
}
