//! Reports for the ministry, the shops and the SDU (SPEC §6).

pub mod bench;
pub mod check;
pub mod complaints;
pub mod delivery;
pub mod export;
pub mod figures;
pub mod months;
pub mod published;
pub mod render;
pub mod returns;
pub mod signals;
pub mod signing;
