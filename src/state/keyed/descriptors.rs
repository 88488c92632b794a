//! State descriptors: the name, type and TTL under which a function declares a state.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::state::snapshot::StateError;
// Only the aggregating descriptor's doc link names it.
#[cfg(doc)]
use crate::windowing::functions::AggregateFunction;

use super::StateTtlConfig;

macro_rules! descriptor {
    ($(#[$doc:meta])* $name:ident < $($t:ident),* > { $($field:ident : $fty:ty),* }) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            pub(crate) name: String,
            pub(crate) ttl: Option<StateTtlConfig>,
            $(pub(crate) $field: $fty,)*
            _t: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                Self {
                    name: self.name.clone(),
                    ttl: self.ttl,
                    $($field: self.$field.clone(),)*
                    _t: PhantomData,
                }
            }
        }

        impl<$($t),*> $name<$($t),*> {
            /// The state's name.
            pub fn name(&self) -> &str {
                &self.name
            }

            /// Gives the state's values a time to live.
            pub fn with_ttl(mut self, ttl: StateTtlConfig) -> Self {
                self.ttl = Some(ttl);
                self
            }
        }
    };
}

descriptor!(
    /// Describes a `ValueState<T>`: one value per key.
    ValueStateDescriptor<T> {}
);
descriptor!(
    /// Describes a `ListState<T>`: a list per key.
    ListStateDescriptor<T> {}
);
descriptor!(
    /// Describes a `MapState<UK, UV>`: a map per key.
    MapStateDescriptor<UK, UV> {}
);
descriptor!(
    /// Describes a `ReducingState<T>`: values added are reduced into one per key.
    ReducingStateDescriptor<T> { reduce: Arc<dyn Fn(T, T) -> T + Send + Sync> }
);
descriptor!(
    /// Describes an `AggregatingState<IN, OUT>`: values added are aggregated by an
    /// [`AggregateFunction`] into one accumulator per key.
    AggregatingStateDescriptor<IN, A> { agg: Arc<A> }
);

impl<T> ValueStateDescriptor<T> {
    /// A value state named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            _t: PhantomData,
        }
    }
}

impl<T> ListStateDescriptor<T> {
    /// A list state named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            _t: PhantomData,
        }
    }
}

impl<UK, UV> MapStateDescriptor<UK, UV> {
    /// A map state named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            _t: PhantomData,
        }
    }
}

impl<T> ReducingStateDescriptor<T> {
    /// A reducing state named `name` combining values with `reduce`.
    pub fn new(name: &str, reduce: impl Fn(T, T) -> T + Send + Sync + 'static) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            reduce: Arc::new(reduce),
            _t: PhantomData,
        }
    }
}

impl<IN, A> AggregatingStateDescriptor<IN, A> {
    /// An aggregating state named `name` aggregating with `agg`.
    pub fn new(name: &str, agg: A) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            agg: Arc::new(agg),
            _t: PhantomData,
        }
    }
}

/// The error for a state asked for with another kind or type than it was declared with.
pub(crate) fn declared_otherwise(name: &str) -> StateError {
    StateError::Deserialize {
        state: name.to_string(),
        message: "the state was declared before with another kind or type".into(),
    }
}
