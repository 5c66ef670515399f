//! Response parsing: every OAI error code, every spelling of the final token, namespace
//! prefix variants, deleted records, raw metadata fragments and hostile XML.

use sheaf::domain::{DcNamespace, DcValue};
use sheaf::oai::response::{Payload, parse};
use sheaf::oai::{OaiError, OaiErrorCode, Verb};

const URL: &str = "http://127.0.0.1/oai";

fn envelope(verb: &str, inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="/oai.xsl"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <responseDate>2022-06-21T10:00:00Z</responseDate>
  <request verb="{verb}">http://127.0.0.1/oai</request>
  {inner}
</OAI-PMH>"#
    )
}

fn dc_record(id: &str, extra: &str) -> String {
    format!(
        r#"<record><header><identifier>{id}</identifier><datestamp>2022-06-21T08:00:00Z</datestamp><setSpec>journal</setSpec><setSpec>journal:art</setSpec></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/" xsi:schemaLocation="x y">
<dc:title xml:lang="en-US">Russian Priorities &amp; Approaches</dc:title>
<dc:title xml:lang="ru-RU">Российские приоритеты</dc:title>
<dc:creator>Lukin, Alexander</dc:creator>
{extra}
</oai_dc:dc></metadata><about><provenance><x>ignored</x></provenance></about></record>"#
    )
}

fn records(xml: &str) -> Vec<sheaf::oai::OaiRecord> {
    match parse(xml, Verb::ListRecords, URL).expect("parses").payload {
        Payload::Records(r) => r,
        other => panic!("unexpected payload {other:?}"),
    }
}

#[test]
fn list_records_yields_headers_dc_values_and_a_token() {
    let xml = envelope(
        "ListRecords",
        &format!(
            r#"<ListRecords>{}{}<resumptionToken completeListSize="46" cursor="0" expirationDate="2022-06-22T10:00:00Z">
  abc+/=123 </resumptionToken></ListRecords>"#,
            dc_record("oai:j:1", "<dc:date>21.06.2022</dc:date>"),
            dc_record("oai:j:2", "")
        ),
    );
    let resp = parse(&xml, Verb::ListRecords, URL).unwrap();
    assert_eq!(
        resp.response_date.unwrap().to_rfc3339(),
        "2022-06-21T10:00:00+00:00"
    );
    let tok = resp.token.clone().unwrap();
    assert_eq!(tok.token.as_deref(), Some("abc+/=123"));
    assert_eq!(tok.complete_list_size, Some(46));
    assert_eq!(tok.cursor, Some(0));
    assert_eq!(tok.expiration_date.as_deref(), Some("2022-06-22T10:00:00Z"));
    let Payload::Records(recs) = resp.payload else {
        panic!()
    };
    assert_eq!(recs.len(), 2);
    let r = &recs[0];
    assert_eq!(r.header.identifier, "oai:j:1");
    assert_eq!(r.header.sets, vec!["journal", "journal:art"]);
    assert!(!r.header.deleted);
    let md = r.metadata.as_ref().unwrap();
    assert_eq!(
        md.dc,
        vec![
            DcValue::dc_lang("title", "Russian Priorities & Approaches", "en-US"),
            DcValue::dc_lang("title", "Российские приоритеты", "ru-RU"),
            DcValue::dc("creator", "Lukin, Alexander"),
            DcValue::dc("date", "21.06.2022"),
        ]
    );
}

#[test]
fn raw_metadata_stands_alone_with_inherited_namespaces_redeclared() {
    // The dc and xsi prefixes are declared on the envelope only.
    let xml = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><responseDate>2022-06-21T10:00:00Z</responseDate><ListRecords><record><header><identifier>oai:x:1</identifier><datestamp>2022-06-21</datestamp></header><metadata>
    <oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xsi:schemaLocation="a b"><dc:title>T</dc:title></oai_dc:dc>
    </metadata></record></ListRecords></OAI-PMH>"#;
    let recs = records(xml);
    let raw = &recs[0].metadata.as_ref().unwrap().raw_xml;
    assert!(raw.starts_with("<oai_dc:dc"), "{raw}");
    assert!(raw.ends_with("</oai_dc:dc>"), "{raw}");
    for decl in [
        r#"xmlns="http://www.openarchives.org/OAI/2.0/""#,
        r#"xmlns:dc="http://purl.org/dc/elements/1.1/""#,
        r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#,
        r#"xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/""#,
    ] {
        assert_eq!(raw.matches(decl).count(), 1, "{decl} in {raw}");
    }
    // The fragment parses on its own and gives the same DC values.
    let again = format!(
        r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header><identifier>a</identifier><datestamp>2022-06-21</datestamp></header><metadata>{raw}</metadata></record></ListRecords></OAI-PMH>"#
    );
    assert_eq!(
        records(&again)[0].metadata.as_ref().unwrap().dc,
        vec![DcValue::dc("title", "T")]
    );
}

#[test]
fn each_record_gets_the_declarations_of_its_own_scope() {
    // Four records with the same metadata root tag: the second binds `dc` to another URI
    // on its <record>, the third and fourth declare nothing of their own again. Each fragment must
    // carry the scope it was cut from, not the one before it.
    let root = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"><dc:title>T</dc:title></oai_dc:dc>"#;
    let rec = |attrs: &str, id: &str| {
        format!(
            r#"<record{attrs}><header><identifier>{id}</identifier><datestamp>2022-06-21</datestamp></header><metadata>{root}</metadata></record>"#
        )
    };
    let xml = format!(
        r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"><responseDate>2022-06-21T10:00:00Z</responseDate><ListRecords>{}{}{}{}</ListRecords></OAI-PMH>"#,
        rec("", "a"),
        rec(r#" xmlns:dc="urn:other""#, "b"),
        rec("", "c"),
        rec("", "d"),
    );
    let recs = records(&xml);
    let raw = |i: usize| recs[i].metadata.as_ref().unwrap().raw_xml.clone();
    let dc = r#"xmlns:dc="http://purl.org/dc/elements/1.1/""#;
    let other = r#"xmlns:dc="urn:other""#;
    assert!(raw(0).contains(dc) && !raw(0).contains(other), "{}", raw(0));
    assert!(raw(1).contains(other) && !raw(1).contains(dc), "{}", raw(1));
    assert_eq!(raw(2), raw(0));
    assert_eq!(raw(3), raw(0));
    // The title of the second is in that other namespace.
    assert_eq!(
        recs.iter()
            .map(|r| r.metadata.as_ref().unwrap().dc[0].ns.clone())
            .collect::<Vec<_>>(),
        vec![
            DcNamespace::Dc,
            DcNamespace::Other("urn:other".into()),
            DcNamespace::Dc,
            DcNamespace::Dc
        ]
    );
}

#[test]
fn elements_are_matched_by_namespace_not_prefix() {
    // Odd prefixes everywhere, and a non-DC element named like a DC one.
    let xml = r#"<o:OAI-PMH xmlns:o="http://www.openarchives.org/OAI/2.0/"><o:responseDate>2022-06-21T10:00:00Z</o:responseDate><o:ListRecords><o:record><o:header><o:identifier>oai:x:1</o:identifier><o:datestamp>2022-06-21T10:00:00Z</o:datestamp></o:header><o:metadata>
    <d:dc xmlns:d="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:e="http://purl.org/dc/elements/1.1/" xmlns:t="http://purl.org/dc/terms/" xmlns:z="urn:other">
      <e:title>Real title</e:title><z:title>Not DC</z:title><t:issued>2022</t:issued><e:identifier xmlns:q="http://www.w3.org/2001/XMLSchema-instance" q:type="dcterms:DOI">10.1/x</e:identifier>
    </d:dc></o:metadata></o:record></o:ListRecords></o:OAI-PMH>"#;
    let recs = records(xml);
    let dc = &recs[0].metadata.as_ref().unwrap().dc;
    assert_eq!(dc[0], DcValue::dc("title", "Real title"));
    assert_eq!(dc[1].ns, DcNamespace::Other("urn:other".into()));
    assert_eq!(dc[2].ns, DcNamespace::Dcterms);
    assert_eq!(dc[2].element, "issued");
    assert_eq!(dc[3].xsi_type.as_deref(), Some("dcterms:DOI"));

    // A document whose root is OAI-PMH in the wrong namespace is not OAI-PMH.
    let wrong = r#"<OAI-PMH xmlns="urn:not-oai"><responseDate>x</responseDate></OAI-PMH>"#;
    assert!(matches!(
        parse(wrong, Verb::Identify, URL),
        Err(OaiError::NotOai { .. })
    ));
}

#[test]
fn every_spelling_of_the_final_token_means_complete() {
    for (label, tok) in [
        ("absent", ""),
        ("self-closing", "<resumptionToken/>"),
        (
            "self-closing with attributes",
            r#"<resumptionToken completeListSize="46" cursor="40"/>"#,
        ),
        (
            "whitespace only",
            "<resumptionToken cursor=\"40\">\n   </resumptionToken>",
        ),
        ("empty pair", "<resumptionToken></resumptionToken>"),
    ] {
        let xml = envelope(
            "ListRecords",
            &format!(
                "<ListRecords>{}{tok}</ListRecords>",
                dc_record("oai:j:1", "")
            ),
        );
        let resp = parse(&xml, Verb::ListRecords, URL).unwrap();
        assert_eq!(resp.next_token(), None, "{label}");
    }
}

#[test]
fn deleted_headers_carry_no_metadata_and_live_records_may_lack_it() {
    let xml = envelope(
        "ListRecords",
        r#"<ListRecords>
<record><header status="deleted"><identifier>oai:j:9</identifier><datestamp>2022-06-21T00:00:00Z</datestamp></header></record>
<record><header><identifier>oai:j:7</identifier><datestamp>2022-06-21T00:00:00Z</datestamp></header></record>
<record><header><identifier>oai:j:8</identifier><datestamp>2022-06-21T00:00:00Z</datestamp></header><metadata/></record>
</ListRecords>"#,
    );
    let recs = records(&xml);
    assert_eq!(recs.len(), 3);
    assert!(recs[0].header.deleted && recs[0].metadata.is_none());
    assert!(!recs[1].header.deleted && recs[1].metadata.is_none());
    assert!(!recs[2].header.deleted && recs[2].metadata.is_none());
    assert!(recs[0].header.sets.is_empty());
}

#[test]
fn list_identifiers_honours_deleted_status() {
    let xml = envelope(
        "ListIdentifiers",
        r#"<ListIdentifiers><header status="deleted"><identifier>oai:j:1</identifier><datestamp>2022-06-21</datestamp></header><header><identifier>oai:j:2</identifier><datestamp>2022-06-21</datestamp><setSpec>s</setSpec></header></ListIdentifiers>"#,
    );
    let Payload::Headers(h) = parse(&xml, Verb::ListIdentifiers, URL).unwrap().payload else {
        panic!()
    };
    assert_eq!(h.len(), 2);
    assert!(h[0].deleted);
    assert_eq!(h[1].sets, vec!["s"]);
}

#[test]
fn no_records_match_is_an_empty_list_and_no_set_hierarchy_means_no_sets() {
    let xml = envelope(
        "ListRecords",
        r#"<error code="noRecordsMatch">nothing</error>"#,
    );
    for verb in [Verb::ListRecords, Verb::ListIdentifiers] {
        let resp = parse(&xml, verb, URL).unwrap();
        assert!(resp.next_token().is_none());
        match resp.payload {
            Payload::Records(r) => assert!(r.is_empty()),
            Payload::Headers(h) => assert!(h.is_empty()),
            other => panic!("{other:?}"),
        }
    }
    let xml = envelope(
        "ListSets",
        r#"<error code="noSetHierarchy">This repository does not support sets</error>"#,
    );
    assert_eq!(
        parse(&xml, Verb::ListSets, URL).unwrap().payload,
        Payload::Sets(vec![])
    );
}

#[test]
fn every_oai_error_code_is_typed() {
    for (code, want) in [
        ("badArgument", OaiErrorCode::BadArgument),
        ("badResumptionToken", OaiErrorCode::BadResumptionToken),
        ("badVerb", OaiErrorCode::BadVerb),
        (
            "cannotDisseminateFormat",
            OaiErrorCode::CannotDisseminateFormat,
        ),
        ("idDoesNotExist", OaiErrorCode::IdDoesNotExist),
        ("noMetadataFormats", OaiErrorCode::NoMetadataFormats),
        ("noRecordsMatch", OaiErrorCode::NoRecordsMatch),
        ("noSetHierarchy", OaiErrorCode::NoSetHierarchy),
        ("somethingElse", OaiErrorCode::Other("somethingElse".into())),
    ] {
        let xml = envelope(
            "GetRecord",
            &format!(r#"<error code="{code}">  msg for {code} </error>"#),
        );
        // GetRecord: even noRecordsMatch is an error there, so every code surfaces.
        let err = parse(&xml, Verb::GetRecord, URL).unwrap_err();
        match err {
            OaiError::Protocol { errors, .. } => {
                assert_eq!(errors[0].code, want);
                assert_eq!(errors[0].message, format!("msg for {code}"));
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    // Several errors are all kept.
    let xml = envelope(
        "ListRecords",
        r#"<error code="badArgument">a</error><error code="badVerb">b</error>"#,
    );
    let OaiError::Protocol { errors, .. } = parse(&xml, Verb::ListRecords, URL).unwrap_err() else {
        panic!()
    };
    assert_eq!(errors.len(), 2);
}

#[test]
fn identify_sets_and_formats_are_parsed() {
    let xml = envelope(
        "Identify",
        r#"<Identify><repositoryName>Problemy Dalnego Vostoka</repositoryName><baseURL>https://j.example/oai</baseURL><protocolVersion>2.0</protocolVersion><adminEmail>a@j.example</adminEmail><earliestDatestamp>2010-01-01T00:00:00Z</earliestDatestamp><deletedRecord>persistent</deletedRecord><granularity>YYYY-MM-DDThh:mm:ssZ</granularity><compression>gzip</compression><compression>deflate</compression>
<description><oai-identifier xmlns="http://www.openarchives.org/OAI/2.0/oai-identifier"><scheme>oai</scheme><repositoryIdentifier>j.example</repositoryIdentifier><delimiter>:</delimiter><sampleIdentifier>oai:j.example:article/1</sampleIdentifier></oai-identifier></description></Identify>"#,
    );
    let Payload::Identify(id) = parse(&xml, Verb::Identify, URL).unwrap().payload else {
        panic!()
    };
    assert_eq!(id.repository_name, "Problemy Dalnego Vostoka");
    assert_eq!(id.granularity(), Some(sheaf::oai::Granularity::Seconds));
    assert_eq!(id.deleted_record, "persistent");
    assert_eq!(id.compression, vec!["gzip", "deflate"]);
    assert_eq!(id.admin_emails, vec!["a@j.example"]);

    let xml = envelope(
        "ListSets",
        r#"<ListSets><set><setSpec>j</setSpec><setName>Journal</setName></set><set><setSpec>j:art</setSpec><setName>Articles</setName><setDescription><x/></setDescription></set></ListSets>"#,
    );
    let Payload::Sets(sets) = parse(&xml, Verb::ListSets, URL).unwrap().payload else {
        panic!()
    };
    assert_eq!(sets.len(), 2);
    assert_eq!(
        (sets[1].spec.as_str(), sets[1].name.as_str()),
        ("j:art", "Articles")
    );

    let xml = envelope(
        "ListMetadataFormats",
        r#"<ListMetadataFormats><metadataFormat><metadataPrefix>oai_dc</metadataPrefix><schema>http://www.openarchives.org/OAI/2.0/oai_dc.xsd</schema><metadataNamespace>http://www.openarchives.org/OAI/2.0/oai_dc/</metadataNamespace></metadataFormat></ListMetadataFormats>"#,
    );
    let Payload::MetadataFormats(f) = parse(&xml, Verb::ListMetadataFormats, URL).unwrap().payload
    else {
        panic!()
    };
    assert_eq!(f[0].prefix, "oai_dc");
}

#[test]
fn get_record_gives_one_record() {
    let xml = envelope(
        "GetRecord",
        &format!("<GetRecord>{}</GetRecord>", dc_record("oai:j:5", "")),
    );
    let Payload::Records(r) = parse(&xml, Verb::GetRecord, URL).unwrap().payload else {
        panic!()
    };
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].header.identifier, "oai:j:5");
}

#[test]
fn entities_and_character_references_are_decoded_once() {
    let xml = envelope(
        "ListRecords",
        &format!(
            "<ListRecords>{}</ListRecords>",
            dc_record(
                "oai:j:1",
                "<dc:description>&lt;p&gt;p &amp;lt; 0.05&nbsp;&ndash; &#x41;&#66;<![CDATA[ <b>x</b>]]></dc:description>"
            )
        ),
    );
    let recs = records(&xml);
    let d = recs[0]
        .metadata
        .as_ref()
        .unwrap()
        .dc
        .iter()
        .find(|v| v.element == "description")
        .unwrap()
        .value
        .clone();
    assert_eq!(d, "<p>p &lt; 0.05\u{a0}– AB <b>x</b>");
}

#[test]
fn nested_dc_children_keep_their_text_apart() {
    let xml = envelope(
        "ListRecords",
        &format!(
            "<ListRecords>{}</ListRecords>",
            dc_record(
                "oai:j:1",
                "<dc:date><dc:day>06</dc:day><dc:month>07</dc:month><dc:year>2019</dc:year></dc:date>"
            )
        ),
    );
    let recs = records(&xml);
    let d = recs[0]
        .metadata
        .as_ref()
        .unwrap()
        .dc
        .iter()
        .find(|v| v.element == "date")
        .unwrap()
        .value
        .clone();
    assert_eq!(d, "06 07 2019");
}

#[test]
fn doctype_is_refused_so_no_entity_is_ever_expanded() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>&x;</responseDate></OAI-PMH>"#;
    let err = parse(xxe, Verb::Identify, URL).unwrap_err();
    assert!(err.to_string().contains("DTD not allowed"), "{err}");
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">{}]><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">&lol9;</OAI-PMH>"#,
        (1..10)
            .map(|i| format!(
                r#"<!ENTITY lol{i} "{}">"#,
                format!("&lol{};", i - 1).repeat(10)
            ))
            .collect::<String>()
    );
    assert!(
        parse(&laughs, Verb::Identify, URL)
            .unwrap_err()
            .to_string()
            .contains("DTD not allowed")
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let inner = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let xml = envelope(
        "ListRecords",
        &format!(
            "<ListRecords><record><header><identifier>i</identifier><datestamp>2022-01-01</datestamp></header><metadata><oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\">{inner}</oai_dc:dc></metadata></record></ListRecords>"
        ),
    );
    let err = parse(&xml, Verb::ListRecords, URL).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

#[test]
fn html_pages_and_empty_bodies_are_not_oai() {
    for body in [
        "",
        "   ",
        "<html><body>Service temporarily unavailable</body></html>",
        "<!-- x --><error/>",
    ] {
        let err = parse(body, Verb::ListRecords, URL).unwrap_err();
        assert!(matches!(err, OaiError::NotOai { .. }), "{body:?}: {err:?}");
        assert!(err.is_transient());
    }
}

#[test]
fn malformed_xml_reports_a_position() {
    let xml = envelope(
        "ListRecords",
        "<ListRecords><record><header><identifier>x</identifier></record></ListRecords>",
    );
    match parse(&xml, Verb::ListRecords, URL).unwrap_err() {
        OaiError::Xml { position, .. } => assert!(position > 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unparseable_datestamps_keep_the_record() {
    let xml = envelope(
        "ListRecords",
        r#"<ListRecords><record><header><identifier>oai:j:1</identifier><datestamp>2016-01-0Z</datestamp></header></record></ListRecords>"#,
    );
    let resp = parse(&xml, Verb::ListRecords, URL).unwrap();
    let Payload::Records(r) = resp.payload else {
        panic!()
    };
    assert_eq!(r[0].header.datestamp, None);
    assert_eq!(r[0].header.datestamp_raw, "2016-01-0Z");
    assert!(resp.warnings.iter().any(|w| w.contains("datestamp")));
}

#[test]
fn a_malformed_page_is_salvaged_record_by_record() {
    use sheaf::oai::response::salvage_list_records;
    let broken = r#"<record><header><identifier>oai:j:2</identifier><datestamp>2022-06-21T08:00:00Z</datestamp></header><metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>p < 0.05 & broken</dc:title></oai_dc:dc></metadata></record>"#;
    let xml = envelope(
        "ListRecords",
        &format!(
            "<ListRecords>{}{broken}{}<resumptionToken cursor=\"0\">next+1</resumptionToken></ListRecords>",
            dc_record("oai:j:1", ""),
            dc_record("oai:j:3", "")
        ),
    );
    assert!(
        parse(&xml, Verb::ListRecords, URL).is_err(),
        "the page as a whole is malformed"
    );
    let s = salvage_list_records(&xml, URL).expect("salvageable");
    let ids: Vec<_> = s
        .records
        .iter()
        .map(|r| r.header.identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["oai:j:1", "oai:j:3"]);
    assert_eq!(s.bad.len(), 1);
    assert_eq!(s.bad[0].identifier.as_deref(), Some("oai:j:2"));
    assert!(s.bad[0].raw.contains("p < 0.05"));
    assert_eq!(&xml[s.bad[0].offset..s.bad[0].offset + 8], "<record>");
    assert_eq!(s.token.and_then(|t| t.token).as_deref(), Some("next+1"));

    // Prefixed envelopes salvage too; a page with no records is not salvageable.
    let prefixed = r#"<o:OAI-PMH xmlns:o="http://www.openarchives.org/OAI/2.0/"><o:ListRecords><o:record><o:header><o:identifier>a</o:identifier><o:datestamp>2022-01-01</o:datestamp></o:header></o:record><o:record><o:header><o:identifier>b&bogus</o:identifier></o:header></o:record></o:ListRecords></o:OAI-PMH>"#;
    let s = salvage_list_records(prefixed, URL).unwrap();
    assert_eq!((s.records.len(), s.bad.len()), (1, 1));
    assert!(salvage_list_records("<html>nope</html>", URL).is_none());
}

#[test]
fn a_nul_assembled_from_nested_references_never_reaches_a_field() {
    // Found by the fuzzer: decoding drops `&#1;`, leaving `&#x0;` behind.
    let body = br#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><Identify><repositoryName>&#&#1;x0;</repositoryName></Identify></OAI-PMH>"#;
    let (text, _) = sheaf::oai::decode::decode_body(body, None);
    let resp = parse(&text, Verb::Identify, URL).unwrap();
    let Payload::Identify(id) = resp.payload else {
        panic!()
    };
    assert!(!id.repository_name.contains('\0'));
    assert!(resp.warnings.iter().any(|w| w.contains("dropped")));
}

/// The DC value, the warnings and the raw fragment of a one-record page with `extra`.
fn one_record(extra: &str) -> (String, Vec<String>, String) {
    let xml = envelope(
        "ListRecords",
        &format!("<ListRecords>{}</ListRecords>", dc_record("oai:j:1", extra)),
    );
    let resp = parse(&xml, Verb::ListRecords, URL).expect("parses");
    let Payload::Records(mut recs) = resp.payload else {
        panic!("not records");
    };
    let md = recs.remove(0).metadata.expect("metadata");
    let value = md
        .dc
        .iter()
        .find(|v| v.element == "description")
        .map(|v| v.value.clone())
        .expect("description");
    (value, resp.warnings, md.raw_xml)
}

/// Text that runs straight to its end tag is decoded by hand, without quick-xml events; the
/// same text read by the event loop (a comment before the end tag sends it there) must give
/// the same value and warnings, and the raw fragment cut after it must be exact.
#[test]
fn dc_text_read_in_one_pass_equals_the_event_loop() {
    let texts = [
        "&lt;p&gt;The region&amp;rsquo;s aim &amp;mdash; p &amp;lt; 0.05&lt;/p&gt;",
        "&amp;amp;lt; double &amp;lt;b&amp;gt;",
        "Лукин, А. В. &#1051;&#x41b;&nbsp;&ndash; Корейский полуостров",
        "&unknown; then &#0; then &#xD800; then &;",
        "  spaced \n\t text  ",
        "a&amp;b&lt;c&gt;d&quot;e&apos;f",
        "plain",
    ];
    for t in texts {
        let fast = one_record(&format!("<dc:description>{t}</dc:description>"));
        let slow = one_record(&format!("<dc:description>{t}<!-- x --></dc:description>"));
        assert_eq!(fast.0, slow.0, "{t:?}");
        assert_eq!(fast.1, slow.1, "{t:?}");
        assert!(
            fast.2
                .contains(&format!("<dc:description>{t}</dc:description>"))
                && fast.2.ends_with("</oai_dc:dc>"),
            "{t:?}: {}",
            fast.2
        );
    }
    // A `\r` (line ends to normalize) and a lone `&` are left to the event loop.
    assert_eq!(
        one_record("<dc:description>a\r\nb</dc:description>").0,
        "a\nb"
    );
    let bad = envelope(
        "ListRecords",
        &format!(
            "<ListRecords>{}</ListRecords>",
            dc_record("oai:j:1", "<dc:description>a & b</dc:description>")
        ),
    );
    assert!(parse(&bad, Verb::ListRecords, URL).is_err());
}

/// An error after text consumed by hand points where the event loop would point.
#[test]
fn error_positions_after_one_pass_text_are_unchanged() {
    let position = |extra: &str| {
        let xml = envelope(
            "ListRecords",
            &format!("<ListRecords>{}</ListRecords>", dc_record("oai:j:1", extra)),
        );
        let at = xml.find("</dc:titel>").expect("bad end tag") as u64;
        match parse(&xml, Verb::ListRecords, URL).unwrap_err() {
            OaiError::Xml { position, .. } => position as i64 - at as i64,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        position("<dc:title>a &amp; b</dc:titel>"),
        position("<dc:title>a &amp; b<!----></dc:titel>")
    );
}
