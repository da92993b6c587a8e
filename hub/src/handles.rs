//! How a capability declares the handles it works with. [`capability_handles!`] writes the
//! struct and a `FromRef` impl generic over the router state, so a capability's routes ask for
//! exactly the database, queue, clients… they use and never name the hub's whole state (which
//! lives in the crate root, above every capability). A leaf: it imports no other module.

/// Declares a `#[derive(Clone)]` struct of handles and `impl<S> FromRef<S>` taking each field
/// from the router state by its type.
macro_rules! capability_handles {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty),+
        }

        impl<S> ::axum::extract::FromRef<S> for $name
        where
            $($ty: ::axum::extract::FromRef<S>),+
        {
            fn from_ref(state: &S) -> Self {
                $name {
                    $($field: <$ty as ::axum::extract::FromRef<S>>::from_ref(state)),+
                }
            }
        }
    };
}

pub(crate) use capability_handles;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::FromRef;

    #[derive(Clone)]
    struct Whole {
        name: Arc<str>,
        count: u32,
    }

    impl FromRef<Whole> for Arc<str> {
        fn from_ref(whole: &Whole) -> Self {
            whole.name.clone()
        }
    }

    impl FromRef<Whole> for u32 {
        fn from_ref(whole: &Whole) -> Self {
            whole.count
        }
    }

    capability_handles! {
        /// Two handles of a larger state.
        pub struct Part {
            /// Taken by type.
            pub name: Arc<str>,
            /// Taken by type.
            pub count: u32,
        }
    }

    #[test]
    fn each_field_is_taken_from_the_state_by_its_type() {
        let whole = Whole {
            name: "acme".into(),
            count: 3,
        };
        let part = Part::from_ref(&whole);
        assert_eq!((&*part.name, part.count), ("acme", 3));
    }
}
