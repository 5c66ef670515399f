//! Typed OAI-PMH requests for the six verbs, turned into query pairs.
//!
//! `resumptionToken` is exclusive (spec §3.5; OJS answers `badArgument` otherwise,
//! quirks.md #20), so a resumed list request carries only the verb and the token.

/// The six OAI-PMH verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Repository description.
    Identify,
    /// Formats a repository (or one item) can disseminate.
    ListMetadataFormats,
    /// The set hierarchy.
    ListSets,
    /// Headers only.
    ListIdentifiers,
    /// Headers and metadata.
    ListRecords,
    /// One record.
    GetRecord,
}

impl Verb {
    /// The verb as written in the `verb` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "Identify",
            Self::ListMetadataFormats => "ListMetadataFormats",
            Self::ListSets => "ListSets",
            Self::ListIdentifiers => "ListIdentifiers",
            Self::ListRecords => "ListRecords",
            Self::GetRecord => "GetRecord",
        }
    }
}

/// Selective-harvesting arguments of a list request (already formatted in the
/// repository's granularity by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListArgs {
    /// `metadataPrefix`, e.g. `oai_dc`.
    pub metadata_prefix: String,
    /// `from`, inclusive.
    pub from: Option<String>,
    /// `until`, inclusive.
    pub until: Option<String>,
    /// `set`.
    pub set: Option<String>,
}

/// One OAI-PMH request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `Identify`
    Identify,
    /// `ListMetadataFormats`, optionally for one item.
    ListMetadataFormats {
        /// Restrict to formats of this item.
        identifier: Option<String>,
    },
    /// `ListSets` (first page).
    ListSets,
    /// `ListIdentifiers` (first page).
    ListIdentifiers(ListArgs),
    /// `ListRecords` (first page).
    ListRecords(ListArgs),
    /// `GetRecord`.
    GetRecord {
        /// The item.
        identifier: String,
        /// The format.
        metadata_prefix: String,
    },
    /// A later page of `ListSets`, `ListIdentifiers` or `ListRecords`.
    Resume {
        /// Which list is resumed.
        verb: Verb,
        /// The opaque token, already trimmed of XML whitespace.
        token: String,
    },
}

impl Request {
    /// The verb of this request.
    pub fn verb(&self) -> Verb {
        match self {
            Self::Identify => Verb::Identify,
            Self::ListMetadataFormats { .. } => Verb::ListMetadataFormats,
            Self::ListSets => Verb::ListSets,
            Self::ListIdentifiers(_) => Verb::ListIdentifiers,
            Self::ListRecords(_) => Verb::ListRecords,
            Self::GetRecord { .. } => Verb::GetRecord,
            Self::Resume { verb, .. } => *verb,
        }
    }

    /// The query arguments, in a stable order. Values are unencoded; the client
    /// percent-encodes each exactly once.
    pub fn query_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut q = vec![("verb", self.verb().as_str())];
        match self {
            Self::Identify | Self::ListSets => {}
            Self::ListMetadataFormats { identifier } => {
                if let Some(id) = identifier {
                    q.push(("identifier", id));
                }
            }
            Self::ListIdentifiers(a) | Self::ListRecords(a) => {
                q.push(("metadataPrefix", &a.metadata_prefix));
                if let Some(v) = &a.from {
                    q.push(("from", v));
                }
                if let Some(v) = &a.until {
                    q.push(("until", v));
                }
                if let Some(v) = &a.set {
                    q.push(("set", v));
                }
            }
            Self::GetRecord {
                identifier,
                metadata_prefix,
            } => {
                q.push(("identifier", identifier));
                q.push(("metadataPrefix", metadata_prefix));
            }
            Self::Resume { token, .. } => q.push(("resumptionToken", token)),
        }
        q
    }

    /// The full request URL: `base` plus the encoded query. A base URL that already has
    /// a query (some platforms route by `?page=oai`) keeps it.
    pub fn url(&self, base: &url::Url) -> url::Url {
        let mut u = base.clone();
        {
            let mut pairs = u.query_pairs_mut();
            for (k, v) in self.query_pairs() {
                pairs.append_pair(k, v);
            }
        }
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> url::Url {
        url::Url::parse("https://journal.example/index.php/j/oai").unwrap()
    }

    #[test]
    fn builds_every_verb() {
        let cases: Vec<(Request, &str)> = vec![
            (Request::Identify, "verb=Identify"),
            (
                Request::ListMetadataFormats { identifier: None },
                "verb=ListMetadataFormats",
            ),
            (
                Request::ListMetadataFormats {
                    identifier: Some("oai:x:1".into()),
                },
                "verb=ListMetadataFormats&identifier=oai%3Ax%3A1",
            ),
            (Request::ListSets, "verb=ListSets"),
            (
                Request::ListIdentifiers(ListArgs {
                    metadata_prefix: "oai_dc".into(),
                    ..Default::default()
                }),
                "verb=ListIdentifiers&metadataPrefix=oai_dc",
            ),
            (
                Request::ListRecords(ListArgs {
                    metadata_prefix: "oai_dc".into(),
                    from: Some("2022-01-01".into()),
                    until: Some("2022-12-31".into()),
                    set: Some("journal:art".into()),
                }),
                "verb=ListRecords&metadataPrefix=oai_dc&from=2022-01-01&until=2022-12-31&set=journal%3Aart",
            ),
            (
                Request::GetRecord {
                    identifier: "oai:x:1".into(),
                    metadata_prefix: "oai_dc".into(),
                },
                "verb=GetRecord&identifier=oai%3Ax%3A1&metadataPrefix=oai_dc",
            ),
        ];
        for (req, query) in cases {
            assert_eq!(req.url(&base()).query(), Some(query), "{req:?}");
        }
    }

    #[test]
    fn resumption_token_is_exclusive_and_encoded_exactly_once() {
        let req = Request::Resume {
            verb: Verb::ListRecords,
            token: "2021@Primo@oai_dc@AAAW+AAU/x=y &verb=Identify%00".into(),
        };
        let url = req.url(&base());
        assert_eq!(
            url.query(),
            Some(
                "verb=ListRecords&resumptionToken=2021%40Primo%40oai_dc%40AAAW%2BAAU%2Fx%3Dy+%26verb%3DIdentify%2500"
            )
        );
        // Decoding gives back the token byte for byte: no double encoding.
        let decoded: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            decoded[1].1,
            "2021@Primo@oai_dc@AAAW+AAU/x=y &verb=Identify%00"
        );
    }

    #[test]
    fn keeps_an_existing_query_on_the_base_url() {
        let base = url::Url::parse("https://x.example/cgi?page=oai").unwrap();
        assert_eq!(
            Request::Identify.url(&base).as_str(),
            "https://x.example/cgi?page=oai&verb=Identify"
        );
    }
}
