//! Reading: filters, the planner/executor, and the fluent query builder.

pub mod budget;
pub mod builder;
pub mod explain;
pub mod filter;
pub mod planner;

pub use budget::Budget;
pub use builder::QueryBuilder;
pub use filter::{Filter, FilterBuilder, Pattern};
pub use planner::QuerySpec;
