//! Plain domain types shared by every layer: what a harvested record *is*, independent of
//! how it was fetched (`oai`) or stored (`store`). No I/O here.

use std::borrow::Cow;

/// XML namespace of Dublin Core 1.1 element set (`dc:`).
pub const DC_NS: &str = "http://purl.org/dc/elements/1.1/";
/// XML namespace of DCMI terms (`dcterms:`), seen inside `oai_dc` on some platforms.
pub const DCTERMS_NS: &str = "http://purl.org/dc/terms/";

/// Which vocabulary a metadata element came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DcNamespace {
    /// Dublin Core 1.1 (`http://purl.org/dc/elements/1.1/`).
    Dc,
    /// DCMI terms (`http://purl.org/dc/terms/`).
    Dcterms,
    /// Anything else found inside the metadata root; the namespace URI (empty when none).
    Other(String),
}

/// One element of a Dublin Core record as it arrived: element name, text, language.
///
/// The text is the element's character data with XML entities already decoded and
/// nested child text concatenated; nothing else has been done to it (no trimming).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcValue {
    /// The vocabulary of the element.
    pub ns: DcNamespace,
    /// Local element name, e.g. `title`, `creator`, `date`, `identifier`. The parser
    /// borrows the usual DC names from static strings (no allocation per value).
    pub element: Cow<'static, str>,
    /// Raw text content (entities decoded, not trimmed).
    pub value: String,
    /// `xml:lang` as written (e.g. `ru-RU`, `en_US`), if any; common tags are static.
    pub lang: Option<Cow<'static, str>>,
    /// `xsi:type` as written (e.g. `dcterms:DOI`, `dcterms:URI`), if any.
    pub xsi_type: Option<String>,
}

impl DcValue {
    /// A DC 1.1 element without language or type; handy in tests and fixtures.
    pub fn dc(element: &str, value: &str) -> Self {
        Self {
            ns: DcNamespace::Dc,
            element: Cow::Owned(element.to_owned()),
            value: value.to_owned(),
            lang: None,
            xsi_type: None,
        }
    }

    /// Same as [`DcValue::dc`] with an `xml:lang`.
    pub fn dc_lang(element: &str, value: &str, lang: &str) -> Self {
        Self {
            lang: Some(Cow::Owned(lang.to_owned())),
            ..Self::dc(element, value)
        }
    }
}
