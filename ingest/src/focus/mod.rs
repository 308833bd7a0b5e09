//! The FOCUS model: columns, value parsers, row normalization.
pub mod columns;
pub mod normalize;
pub mod values;

pub use columns::Column;
pub use normalize::{BatchStamp, ColumnMap, DeviationKind, FieldProblem, Normalizer};
