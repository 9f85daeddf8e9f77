//! Where the generated code finds its dependencies when `#[resource(crate = "...")]` does not
//! say: the hidden `__private` module of the facade `rudder` if the crate being compiled depends
//! on it, else that of `rudder-apimachinery`, each under the name the crate's `Cargo.toml` gives
//! it (a renamed dependency is followed). Neither being a dependency is a compile error saying
//! what to add.
//!
//! The search reads the crate's `Cargo.toml` (through `proc-macro-crate`). Inside the package
//! itself (its examples, integration tests, doctests) the package is named by its crate name,
//! `::rudder` or `::rudder_apimachinery`.

use proc_macro2::Span;
use proc_macro_crate::{crate_name, Error, FoundCrate};
use syn::{Ident, Path};

/// The packages whose `__private` module serves the generated code, in order of preference.
const PACKAGES: [&str; 2] = ["rudder", "rudder-apimachinery"];

/// The path of the hidden re-exports, from the crate's dependencies.
pub fn find() -> syn::Result<Path> {
    choose(PACKAGES.iter().map(|p| (*p, crate_name(p))))
}

/// The first package found wins; when none is, the error says why.
fn choose<'a>(lookups: impl IntoIterator<Item = (&'a str, Result<FoundCrate, Error>)>) -> syn::Result<Path> {
    let mut failures = Vec::new();
    for (package, lookup) in lookups {
        match lookup {
            Ok(found) => return path_of(package, found),
            // Not a dependency: try the next package.
            Err(Error::CrateNotFound { .. }) => {}
            Err(e) => failures.push(format!("looking for `{package}`: {e}")),
        }
    }
    let mut message = String::from(
        "#[derive(CustomResource)] needs `rudder` or `rudder-apimachinery` (with its feature `derive`) \
         as a dependency; or name the path of their hidden re-exports with \
         `#[resource(crate = \"::rudder::__private\")]`",
    );
    for f in failures {
        message.push_str("\n  ");
        message.push_str(&f);
    }
    Err(syn::Error::new(Span::call_site(), message))
}

/// `::name::__private`; a name that is not an identifier is an error, not a panic.
fn path_of(package: &str, found: FoundCrate) -> syn::Result<Path> {
    let name = match found {
        FoundCrate::Itself => package.replace('-', "_"),
        FoundCrate::Name(name) => name,
    };
    let ident: Ident = syn::parse_str(&name).map_err(|_| {
        syn::Error::new(Span::call_site(), format!("the dependency `{package}` is named `{name}`, not an identifier"))
    })?;
    Ok(syn::parse_quote!(::#ident::__private))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn missing(name: &str) -> Result<FoundCrate, Error> {
        Err(Error::CrateNotFound { crate_name: name.into(), path: "Cargo.toml".into() })
    }

    fn path(lookups: Vec<(&str, Result<FoundCrate, Error>)>) -> String {
        choose(lookups).map(|p| p.to_token_stream().to_string().replace(' ', "")).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn the_facade_wins_then_apimachinery_under_their_dependency_names() {
        let both = vec![
            ("rudder", Ok(FoundCrate::Name("rudder".into()))),
            ("rudder-apimachinery", Ok(FoundCrate::Name("rudder_apimachinery".into()))),
        ];
        assert_eq!(path(both), "::rudder::__private");
        let renamed = vec![("rudder", missing("rudder")), ("rudder-apimachinery", Ok(FoundCrate::Name("am".into())))];
        assert_eq!(path(renamed), "::am::__private");
        let itself = vec![("rudder", missing("rudder")), ("rudder-apimachinery", Ok(FoundCrate::Itself))];
        assert_eq!(path(itself), "::rudder_apimachinery::__private");
    }

    #[test]
    fn neither_dependency_is_an_error_saying_what_to_add() {
        let none = vec![("rudder", missing("rudder")), ("rudder-apimachinery", missing("rudder-apimachinery"))];
        let message = path(none);
        assert!(message.contains("needs `rudder` or `rudder-apimachinery`"), "{message}");
        assert!(message.contains("crate = "), "{message}");
        let unreadable = vec![("rudder", Err(Error::CargoManifestDirNotSet)), ("rudder-apimachinery", missing("x"))];
        assert!(path(unreadable).contains("CARGO_MANIFEST_DIR"));
        let odd = vec![("rudder", Ok(FoundCrate::Name("not a name".into())))];
        assert!(path(odd).contains("not an identifier"));
    }

    /// The real search over a user's `Cargo.toml`: a renamed dependency is followed, and a crate
    /// with neither dependency gets the error. (The one test that sets `CARGO_MANIFEST_DIR`, which
    /// no other test reads.)
    #[test]
    fn the_search_reads_the_users_manifest() {
        let manifest = |deps: &str| {
            let dir = tempfile::tempdir().expect("a temp dir");
            let toml = format!("[package]\nname = \"user\"\nversion = \"0.1.0\"\n\n[dependencies]\n{deps}\n");
            std::fs::write(dir.path().join("Cargo.toml"), toml).expect("write Cargo.toml");
            std::env::set_var("CARGO_MANIFEST_DIR", dir.path());
            let found =
                find().map(|p| p.to_token_stream().to_string().replace(' ', "")).unwrap_or_else(|e| e.to_string());
            (dir, found)
        };
        let (_dir, found) = manifest("am = { package = \"rudder-apimachinery\", version = \"0.1\" }");
        assert_eq!(found, "::am::__private");
        let (_dir, found) =
            manifest("rudder-apimachinery = \"0.1\"\nkube = { package = \"rudder\", version = \"0.1\" }");
        assert_eq!(found, "::kube::__private");
        let (_dir, found) = manifest("serde = \"1\"");
        assert!(found.contains("needs `rudder` or `rudder-apimachinery`"), "{found}");
    }
}
