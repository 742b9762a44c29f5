//! The language the Azyq wallet server and till both speak. No I/O here.

pub mod api;
pub mod clock;
pub mod gs1;
pub mod ids;
pub mod money;
pub mod offline;
pub mod states;
pub mod token;

pub use ids::{mask_name, region_names, BusinessDay, Iin, Kato, Month, ParseError, Phone, Region, ALMATY};
pub use money::Tiyn;
