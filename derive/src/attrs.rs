//! Parsing and checking `#[resource(...)]`: every option once (except the repeatable ones), each
//! value of the expected form, the names valid for Kubernetes. An error points at the option (or
//! its value) and says what is expected.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitBool, LitInt, LitStr, Path};

use crate::names;

/// One additional printer column.
pub struct PrintColumn {
    pub name: String,
    pub json_path: String,
    pub type_: String,
    pub description: Option<String>,
    pub format: Option<String>,
    pub priority: Option<i32>,
}

/// The scale subresource's paths.
pub struct Scale {
    pub spec: String,
    pub status: String,
    pub label_selector: Option<String>,
}

/// A CEL rule on the whole object.
pub struct Rule {
    pub rule: String,
    pub message: Option<String>,
}

/// Everything `#[resource(...)]` says, checked.
pub struct Options {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub kind_span: Span,
    pub namespaced: bool,
    pub status: Option<Path>,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub columns: Vec<PrintColumn>,
    pub scale: Option<Scale>,
    pub rules: Vec<Rule>,
    pub served: bool,
    pub storage: bool,
    pub derives: Vec<Path>,
    /// `crate = "..."`, when given (else [`crate::krate::find`] looks for the dependency).
    pub krate: Option<Path>,
}

const EXPECTED: &str = "expected one of: group, version, kind, namespaced, status, plural, singular, shortname, \
     category, printcolumn(...), scale(...), validation(...), served, storage, derive, crate";

/// Sets `slot` once; a second value is an error at the repeated option.
fn once<T>(slot: &mut Option<T>, value: T, meta: &ParseNestedMeta) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{}` is given twice; give it once", path_name(&meta.path))));
    }
    *slot = Some(value);
    Ok(())
}

fn path_name(p: &Path) -> String {
    p.get_ident().map(Ident::to_string).unwrap_or_else(|| "?".into())
}

/// `key = "string"`, with a message naming the key when the value is of another form.
fn string(meta: &ParseNestedMeta, what: &str) -> syn::Result<LitStr> {
    let key = path_name(&meta.path);
    let value = meta.value().map_err(|_| meta.error(format!("expected `{key} = \"...\"` ({what})")))?;
    value
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("expected a string: `{key} = \"...\"` ({what})")))
}

fn boolean(meta: &ParseNestedMeta) -> syn::Result<bool> {
    let key = path_name(&meta.path);
    let value = meta.value().map_err(|_| meta.error(format!("expected `{key} = true` or `{key} = false`")))?;
    Ok(value
        .parse::<LitBool>()
        .map_err(|e| syn::Error::new(e.span(), format!("expected `{key} = true` or `{key} = false`")))?
        .value)
}

fn checked(lit: &LitStr, check: fn(&str) -> Result<(), String>) -> syn::Result<String> {
    let v = lit.value();
    check(&v).map_err(|m| syn::Error::new(lit.span(), m))?;
    Ok(v)
}

impl Options {
    /// Reads and checks the options of a derive input.
    pub fn from_input(input: &DeriveInput) -> syn::Result<Options> {
        match &input.data {
            Data::Struct(s) if !matches!(s.fields, Fields::Unit) => {}
            _ => return Err(syn::Error::new(
                input.ident.span(),
                "CustomResource is derived on the spec struct (a struct with fields), e.g. `struct CronTabSpec { .. }`",
            )),
        }
        if !input.generics.params.is_empty() {
            return Err(syn::Error::new(
                input.generics.span(),
                "CustomResource needs a spec struct without generic parameters",
            ));
        }
        let attrs: Vec<_> = input.attrs.iter().filter(|a| a.path().is_ident("resource")).collect();
        let Some(first) = attrs.first() else {
            return Err(syn::Error::new(
                input.ident.span(),
                "missing `#[resource(group = \"...\", version = \"...\", kind = \"...\")]` on the spec struct",
            ));
        };
        let span = first.path().span();
        let mut group = None;
        let mut version = None;
        let mut kind: Option<(String, Span)> = None;
        let mut namespaced = None;
        let mut status = None;
        let mut plural = None;
        let mut singular = None;
        let mut served = None;
        let mut storage = None;
        let mut scale = None;
        let mut krate = None;
        let mut short_names = Vec::new();
        let mut categories = Vec::new();
        let mut columns = Vec::new();
        let mut rules = Vec::new();
        let mut derives = Vec::new();
        for attr in attrs {
            attr.parse_nested_meta(|meta| {
                let key = path_name(&meta.path);
                match key.as_str() {
                    "group" => {
                        let v = checked(&string(&meta, "the API group, e.g. \"stable.example.com\"")?, names::group)?;
                        once(&mut group, v, &meta)
                    }
                    "version" => {
                        let v = checked(&string(&meta, "the version, e.g. \"v1\"")?, names::version)?;
                        once(&mut version, v, &meta)
                    }
                    "kind" => {
                        let lit = string(&meta, "the kind, e.g. \"CronTab\"")?;
                        let v = checked(&lit, names::kind)?;
                        once(&mut kind, (v, lit.span()), &meta)
                    }
                    "namespaced" => {
                        if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                            return Err(meta.error(
                                "`namespaced` is a flag: write `namespaced` alone (cluster-scoped when absent)",
                            ));
                        }
                        once(&mut namespaced, true, &meta)
                    }
                    "status" => {
                        let lit = string(&meta, "the status type, e.g. \"CronTabStatus\"")?;
                        let p: Path = lit.parse().map_err(|_| {
                            syn::Error::new(lit.span(), "expected the path of the status type, e.g. \"CronTabStatus\"")
                        })?;
                        once(&mut status, p, &meta)
                    }
                    "plural" => {
                        let v = checked(&string(&meta, "the plural resource name")?, names::lower_label)?;
                        once(&mut plural, v, &meta)
                    }
                    "singular" => {
                        let v = checked(&string(&meta, "the singular resource name")?, names::lower_label)?;
                        once(&mut singular, v, &meta)
                    }
                    "shortname" => {
                        short_names.push(checked(&string(&meta, "a short name, e.g. \"ct\"")?, names::lower_label)?);
                        Ok(())
                    }
                    "category" => {
                        categories.push(checked(&string(&meta, "a category, e.g. \"all\"")?, names::lower_label)?);
                        Ok(())
                    }
                    "served" => {
                        let v = boolean(&meta)?;
                        once(&mut served, v, &meta)
                    }
                    "storage" => {
                        let v = boolean(&meta)?;
                        once(&mut storage, v, &meta)
                    }
                    "derive" => {
                        let lit = string(&meta, "a derive, e.g. \"PartialEq\"")?;
                        derives.push(lit.parse::<Path>().map_err(|_| {
                            syn::Error::new(lit.span(), "expected the path of a derive macro, e.g. \"PartialEq\"")
                        })?);
                        Ok(())
                    }
                    "crate" => {
                        let lit =
                            string(&meta, "the path of rudder's hidden re-exports, e.g. \"::rudder::__private\"")?;
                        let p: Path = lit.parse().map_err(|_| {
                            syn::Error::new(lit.span(), "expected a path, e.g. \"::rudder::__private\"")
                        })?;
                        once(&mut krate, p, &meta)
                    }
                    "printcolumn" => {
                        columns.push(print_column(&meta)?);
                        Ok(())
                    }
                    "scale" => {
                        let s = scale_of(&meta)?;
                        once(&mut scale, s, &meta)
                    }
                    "validation" => {
                        rules.push(rule(&meta)?);
                        Ok(())
                    }
                    _ => Err(meta.error(format!("unknown option `{key}`: {EXPECTED}"))),
                }
            })?;
        }
        let missing = |what: &str, example: &str| {
            syn::Error::new(
                span,
                format!("missing `{what} = \"...\"` in #[resource(...)], e.g. `{what} = \"{example}\"`"),
            )
        };
        let group = group.ok_or_else(|| missing("group", "stable.example.com"))?;
        let version = version.ok_or_else(|| missing("version", "v1"))?;
        let (kind, kind_span) = kind.ok_or_else(|| missing("kind", "CronTab"))?;
        if let Some(s) = &scale {
            if status.is_none() && s.status.starts_with(".status") {
                return Err(syn::Error::new(
                    span,
                    "`scale(status = \".status...\")` needs `status = \"StatusType\"`: the status path lives in the status",
                ));
            }
        }
        let lower = kind.to_ascii_lowercase();
        Ok(Options {
            plural: plural.unwrap_or_else(|| names::plural_of(&lower)),
            singular: singular.unwrap_or(lower),
            group,
            version,
            kind,
            kind_span,
            namespaced: namespaced.unwrap_or(false),
            status,
            short_names,
            categories,
            columns,
            scale,
            rules,
            served: served.unwrap_or(true),
            storage: storage.unwrap_or(true),
            derives,
            krate,
        })
    }
}

fn print_column(meta: &ParseNestedMeta) -> syn::Result<PrintColumn> {
    const FORM: &str = "expected `printcolumn(name = \"...\", json_path = \".spec...\", type = \"string\")` \
                        (optional: description, format, priority)";
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(FORM));
    }
    let (mut name, mut json_path, mut type_, mut description, mut format, mut priority) =
        (None, None, None, None, None, None);
    meta.parse_nested_meta(|m| match path_name(&m.path).as_str() {
        "name" => {
            let v = string(&m, "the column's header")?.value();
            once(&mut name, v, &m)
        }
        "json_path" => {
            let v = checked(&string(&m, "a JSON path such as \".spec.cronSpec\"")?, names::json_path)?;
            once(&mut json_path, v, &m)
        }
        "type" => {
            let v = checked(&string(&m, "one of integer, number, string, boolean, date")?, names::column_type)?;
            once(&mut type_, v, &m)
        }
        "description" => {
            let v = string(&m, "the column's description")?.value();
            once(&mut description, v, &m)
        }
        "format" => {
            let v = string(&m, "an OpenAPI format such as \"int32\"")?.value();
            once(&mut format, v, &m)
        }
        "priority" => {
            let value =
                m.value().map_err(|_| m.error("expected `priority = 0` (an integer, 0 for the default view)"))?;
            let lit: LitInt = value.parse().map_err(|e| {
                syn::Error::new(e.span(), "expected `priority = 0` (an integer, 0 for the default view)")
            })?;
            let v = lit.base10_parse::<i32>()?;
            once(&mut priority, v, &m)
        }
        other => Err(m.error(format!(
            "unknown printcolumn option `{other}`: expected name, json_path, type, description, format or priority"
        ))),
    })?;
    let missing = |what: &str| meta.error(format!("printcolumn needs `{what}`; {FORM}"));
    Ok(PrintColumn {
        name: name.ok_or_else(|| missing("name"))?,
        json_path: json_path.ok_or_else(|| missing("json_path"))?,
        type_: type_.ok_or_else(|| missing("type"))?,
        description,
        format,
        priority,
    })
}

fn scale_of(meta: &ParseNestedMeta) -> syn::Result<Scale> {
    const FORM: &str = "expected `scale(spec = \".spec.replicas\", status = \".status.replicas\")` \
                        (optional: label_selector = \".status.selector\")";
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(FORM));
    }
    let (mut spec, mut status, mut selector) = (None, None, None);
    meta.parse_nested_meta(|m| match path_name(&m.path).as_str() {
        "spec" => {
            let v = checked(&string(&m, "the spec replicas path, under .spec")?, names::spec_path)?;
            once(&mut spec, v, &m)
        }
        "status" => {
            let v = checked(&string(&m, "the status replicas path, under .status")?, names::status_path)?;
            once(&mut status, v, &m)
        }
        "label_selector" => {
            let v = checked(&string(&m, "the selector path, under .spec or .status")?, names::selector_path)?;
            once(&mut selector, v, &m)
        }
        other => Err(m.error(format!("unknown scale option `{other}`: expected spec, status or label_selector"))),
    })?;
    Ok(Scale {
        spec: spec.ok_or_else(|| meta.error(format!("scale needs `spec`; {FORM}")))?,
        status: status.ok_or_else(|| meta.error(format!("scale needs `status`; {FORM}")))?,
        label_selector: selector,
    })
}

fn rule(meta: &ParseNestedMeta) -> syn::Result<Rule> {
    const FORM: &str = "expected `validation(rule = \"<CEL expression>\", message = \"...\")` (message optional)";
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(FORM));
    }
    let (mut rule, mut message) = (None, None);
    meta.parse_nested_meta(|m| match path_name(&m.path).as_str() {
        "rule" => {
            let lit = string(&m, "a CEL expression")?;
            if lit.value().trim().is_empty() {
                return Err(syn::Error::new(lit.span(), "a CEL rule must not be empty"));
            }
            once(&mut rule, lit.value(), &m)
        }
        "message" => {
            let v = string(&m, "the message shown when the rule fails")?.value();
            once(&mut message, v, &m)
        }
        other => Err(m.error(format!("unknown validation option `{other}`: {FORM}"))),
    })?;
    Ok(Rule { rule: rule.ok_or_else(|| meta.error(FORM))?, message })
}
