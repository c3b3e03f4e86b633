//! Flags that take a library enum by name: the libraries need no clap, and
//! each concept keeps one type from the flag to the code using it (`Named`,
//! and `named()` to parse one with clap listing the names).

use clap::builder::{PossibleValuesParser, TypedValueParser};

use abshift_core::outcome::OnConflict;
use abshift_core::report::Format as ReportFormat;
use abshift_elb::tf::LbRole;

/// A library enum that names its own values, so that the libraries need no
/// clap and each concept keeps one type from the flag to the code using it.
pub trait Named: Copy + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}

impl Named for OnConflict {
    const ALL: &'static [Self] = &OnConflict::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for ReportFormat {
    const ALL: &'static [Self] = &ReportFormat::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for LbRole {
    const ALL: &'static [Self] = &LbRole::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Parses one of `T::ALL` by name; clap lists the names in help and errors.
pub fn named<T: Named>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|v| v.name())).map(|s: String| {
        *T::ALL
            .iter()
            .find(|v| v.name() == s)
            .expect("clap only passes listed names")
    })
}
