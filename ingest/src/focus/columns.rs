//! The FOCUS columns costmill stores, how file headers map onto them, and which are mandatory.

/// One list of the FOCUS columns costmill keeps, in `focus_costs` order: the enum, `ALL` and
/// the names all come from it.
macro_rules! focus_columns {
    ($($column:ident),* $(,)?) => {
        /// A FOCUS column costmill keeps. The order is the order of `Column::ALL`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Column {
            $($column),*
        }

        impl Column {
            pub const ALL: [Column; [$(stringify!($column)),*].len()] = [$(Column::$column),*];

            /// The 1.1/1.2 name, which is also the column name in `focus_costs`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Column::$column => stringify!($column)),*
                }
            }
        }
    };
}

focus_columns!(
    BillingAccountId,
    BillingAccountName,
    BillingCurrency,
    BillingPeriodStart,
    BillingPeriodEnd,
    ChargePeriodStart,
    ChargePeriodEnd,
    ChargeCategory,
    ChargeClass,
    ChargeDescription,
    ChargeFrequency,
    BilledCost,
    EffectiveCost,
    ListCost,
    ContractedCost,
    ListUnitPrice,
    ContractedUnitPrice,
    PricingQuantity,
    PricingUnit,
    PricingCategory,
    ConsumedQuantity,
    ConsumedUnit,
    InvoiceIssuer,
    InvoiceId,
    Provider,
    Publisher,
    ServiceCategory,
    ServiceSubcategory,
    ServiceName,
    ResourceId,
    ResourceName,
    ResourceType,
    RegionId,
    RegionName,
    AvailabilityZone,
    SkuId,
    SkuPriceId,
    SubAccountId,
    SubAccountName,
    CommitmentDiscountId,
    CommitmentDiscountName,
    CommitmentDiscountCategory,
    CommitmentDiscountStatus,
    CommitmentDiscountType,
    Tags,
);

use Column::*;

impl Column {
    /// Mandatory in FOCUS 1.0, 1.1 and 1.2: a file without one of these is refused.
    pub const MANDATORY: [Column; 21] = [
        BilledCost,
        BillingAccountId,
        BillingAccountName,
        BillingCurrency,
        BillingPeriodEnd,
        BillingPeriodStart,
        ChargeCategory,
        ChargeClass,
        ChargeDescription,
        ChargePeriodEnd,
        ChargePeriodStart,
        ContractedCost,
        EffectiveCost,
        InvoiceIssuer,
        ListCost,
        PricingQuantity,
        PricingUnit,
        Provider,
        Publisher,
        ServiceCategory,
        ServiceName,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Mandatory columns whose value may be null by the spec (e.g. ChargeClass outside corrections,
    /// PricingQuantity on tax rows); an empty value in the others is a deviation.
    pub fn nullable(self) -> bool {
        !matches!(
            self,
            BilledCost
                | EffectiveCost
                | ListCost
                | ContractedCost
                | BillingAccountId
                | BillingAccountName
                | BillingCurrency
                | BillingPeriodStart
                | BillingPeriodEnd
                | ChargePeriodStart
                | ChargePeriodEnd
                | ChargeCategory
                | ChargeDescription
                | InvoiceIssuer
                | Provider
                | Publisher
                | ServiceCategory
                | ServiceName
        )
    }

    /// Resolve a header: 1.1/1.2 names, the 1.0 names real exports use, any casing, a UTF-8 BOM.
    pub fn from_header(header: &str) -> Option<Column> {
        let header = header.trim_start_matches('\u{feff}').trim();
        let canonical = match header.to_ascii_lowercase().as_str() {
            "invoiceissuername" => "InvoiceIssuer",
            "providername" => "Provider",
            "publishername" => "Publisher",
            _ => header,
        };
        Column::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(canonical))
    }
}
