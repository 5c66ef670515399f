#!/usr/bin/env python3
"""An OAI-PMH 2.0 data provider built on pyoai (`oaipmh.server.BatchingServer`), for
sheaf's end-to-end test against a provider implementation not written for sheaf.

pyoai does the protocol: argument validation, error responses, resumption tokens (its own
stateless, URL-quoted encoding), the envelope and the stock `oai_dc` writer. This file
only supplies the repository (an IBatchingOAI object over in-memory records) and the HTTP
transport (stdlib wsgiref).

Content: N deterministic records of bilingual (en/ru) journal metadata in 3 sets, every
17th a persistent tombstone, datestamps spread over 2020-2022.

On start one JSON line goes to stdout: {"port":..., "base_url":..., "live":..., "deleted":...}.
With --state FILE the served state (identifier, deleted t/f, datestamp, sets joined by
commas, first title, DOI) is written to FILE as TSV after start and after every mutation.

Admin endpoints (not OAI-PMH):
  GET /admin/mutate?update=K&delete=M  retitle K live records and delete M other live ones,
                                       all with datestamp "now"; answers with a JSON summary
  GET /admin/expected                  the current totals as JSON
"""

import argparse
import datetime
import json
import os
import random
import signal
import sys
import threading
import time
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from oaipmh import common, error, metadata, server
from oaipmh.datestamp import datetime_to_datestamp

# Work-around for a pyoai 2.5.0 bug: decodeResumptionToken calls cgi.parse_qs, which was
# removed in Python 3.8, so every request with a resumptionToken dies with AttributeError
# (HTTP 500). urllib.parse.parse_qs is the same function under its current name.
if not hasattr(server.cgi, "parse_qs"):
    import urllib.parse

    server.cgi.parse_qs = urllib.parse.parse_qs

NS_XML = "http://www.w3.org/XML/1998/namespace"

SETS = [
    ("ling", "Journal of Applied Linguistics / Журнал прикладной лингвистики"),
    ("hist", "Historical Review / Исторический обзор"),
    ("econ", "Economics and Society / Экономика и общество"),
]
JOURNALS = {
    "ling": ("Journal of Applied Linguistics", "10.31857/jal"),
    "hist": ("Historical Review", "10.31857/hr"),
    "econ": ("Economics and Society", "10.31857/es"),
}

EN_ADJ = ["Comparative", "Historical", "Empirical", "Regional", "Structural", "Early", "Late",
          "Cognitive", "Social", "Institutional", "Quantitative", "Critical"]
EN_NOUN = ["Analysis", "Study", "Survey", "Perspective", "Approach", "Reassessment", "Review",
           "Model", "Account", "Reconstruction"]
EN_TOPIC = ["Verbal Aspect", "Grain Trade", "Monetary Reform", "Dialect Contact", "Rural Credit",
            "Urban Guilds", "Case Marking", "Labour Migration", "Church Archives",
            "Syntax & Semantics", "Tax Farming", "Loanwords", "Railway Finance", "Prosody"]
EN_PLACE = ["in Siberia", "in the Volga Region", "in Early Modern Novgorod", "in the Urals",
            "in Post-Soviet Kazakhstan", "in the Baltic Provinces", "on the Black Sea Coast"]
RU_ADJ = ["Сравнительный", "Исторический", "Эмпирический", "Региональный", "Структурный",
          "Когнитивный", "Социальный", "Институциональный", "Количественный", "Критический"]
RU_NOUN = ["анализ", "подход", "обзор", "взгляд", "пересмотр"]
RU_TOPIC = ["глагольного вида", "хлебной торговли", "денежной реформы", "диалектных контактов",
            "сельского кредита", "городских цехов", "падежной маркировки", "трудовой миграции",
            "церковных архивов", "синтаксиса и семантики", "откупной системы", "заимствований"]
RU_PLACE = ["в Сибири", "в Поволжье", "в раннем Новгороде", "на Урале", "в Казахстане",
            "в Прибалтике", "на Черноморском побережье"]
FAMILY = [("Ivanova", "Иванова"), ("Petrov", "Петров"), ("Smirnov", "Смирнов"),
          ("Kuznetsova", "Кузнецова"), ("Sokolov", "Соколов"), ("Popova", "Попова"),
          ("Lebedev", "Лебедев"), ("Kozlova", "Козлова"), ("Novikov", "Новиков"),
          ("Morozova", "Морозова"), ("O'Neill", "О'Нил"), ("Müller", "Мюллер")]
GIVEN = [("Anna", "Анна"), ("Sergei", "Сергей"), ("Olga", "Ольга"), ("Dmitry", "Дмитрий"),
         ("Elena", "Елена"), ("Ivan", "Иван"), ("Maria", "Мария"), ("Pavel", "Павел")]
SUBJECTS = [("linguistics", "лингвистика"), ("economic history", "экономическая история"),
            ("archives", "архивы"), ("migration", "миграция"), ("grammar", "грамматика"),
            ("finance", "финансы"), ("Russian Empire", "Российская империя")]

EPOCH = datetime.datetime(2020, 1, 1)
SPAN_SECONDS = int((datetime.datetime(2022, 12, 31, 23, 59, 59) - EPOCH).total_seconds())


class Repo:
    """The in-memory repository; all access under `lock`."""

    def __init__(self, n, granularity, seed=20221, seconds_datestamps=False):
        self.lock = threading.RLock()
        self.day = granularity == "day"
        # What the headers show: pyoai's seconds form unless the day fix is on.
        self.day_datestamps = self.day and not seconds_datestamps
        self.rng = random.Random(seed)
        self.records = {}
        for i in range(1, n + 1):
            rec = self._make(i)
            self.records[rec["id"]] = rec
        self.order = sorted(self.records)  # stable list order: by identifier
        self.mutations = 0

    def stamp(self, dt):
        dt = dt.replace(microsecond=0)
        if self.day:
            dt = dt.replace(hour=0, minute=0, second=0)
        return dt

    def _make(self, i):
        r = self.rng
        set_spec = SETS[i % 3][0]
        sets = [set_spec]
        if i % 5 == 0:  # some records also sit in a second set
            sets.append(SETS[(i + 1) % 3][0])
        ident = "oai:journals.example.org:article/%d" % i
        ds = self.stamp(EPOCH + datetime.timedelta(seconds=r.randrange(SPAN_SECONDS)))
        year = 2020 + r.randrange(3)
        vol, no = year - 2016, 1 + r.randrange(4)
        first = 1 + r.randrange(300)
        last = first + 5 + r.randrange(30)
        journal, doi_prefix = JOURNALS[set_spec]
        title_en = "%s %s of %s %s" % (r.choice(EN_ADJ), r.choice(EN_NOUN), r.choice(EN_TOPIC),
                                       r.choice(EN_PLACE))
        title_ru = "%s %s %s %s" % (r.choice(RU_ADJ), r.choice(RU_NOUN), r.choice(RU_TOPIC),
                                    r.choice(RU_PLACE))
        creators = []
        for _ in range(1 + r.randrange(3)):
            (fam_en, fam_ru), (giv_en, giv_ru) = r.choice(FAMILY), r.choice(GIVEN)
            creators.append("%s, %s" % (fam_en, giv_en) if r.random() < 0.7
                            else "%s, %s" % (fam_ru, giv_ru))
        subj = r.sample(SUBJECTS, 2)
        md = {
            "title": [(title_en, "en"), (title_ru, "ru")],
            "creator": [(c, None) for c in creators],
            "subject": [(s[0], "en") for s in subj] + [(s[1], "ru") for s in subj],
            "description": [
                ("The article examines %s using <archival> & published sources (n=%d)."
                 % (title_en.lower(), 10 + r.randrange(500)), "en"),
                ("В статье рассматривается «%s» на материале архивных источников." % title_ru.lower(),
                 "ru"),
            ],
            "publisher": [("Nauka Publishers", "en"), ("Издательство «Наука»", "ru")],
            "date": [("%d-%02d-%02d" % (year, 1 + r.randrange(12), 1 + r.randrange(28)), None)],
            "type": [("info:eu-repo/semantics/article", None), ("Peer-reviewed Article", "en")],
            "format": [("application/pdf", None)],
            "identifier": [
                ("https://journals.example.org/index.php/%s/article/view/%d" % (set_spec, i), None),
                ("%s.%d.%d.%d" % (doi_prefix, year, no, i), None),
            ],
            "source": [("%s; Vol %d, No %d (%d); %d-%d" % (journal, vol, no, year, first, last), "en")],
            "language": [("rus" if r.random() < 0.6 else "eng", None)],
            "rights": [("Copyright (c) %d %s" % (year, creators[0]), "en")],
        }
        return {"id": ident, "datestamp": ds, "deleted": i % 17 == 0, "sets": sets, "md": md}

    def totals(self):
        with self.lock:
            deleted = sum(1 for r in self.records.values() if r["deleted"])
            return {"live": len(self.records) - deleted, "deleted": deleted,
                    "total": len(self.records)}

    def mutate(self, k, m):
        """Retitles k live records and deletes m other live records, datestamp now."""
        with self.lock:
            self.mutations += 1
            now = self.stamp(datetime.datetime.utcnow())
            live = [i for i in self.order if not self.records[i]["deleted"]]
            rng = random.Random(1000 + self.mutations)
            picked = rng.sample(live, k + m)
            updated, deleted = picked[:k], picked[k:]
            for ident in updated:
                rec = self.records[ident]
                (en, _), (ru, _) = rec["md"]["title"][:2]
                rec["md"]["title"] = [(en + " (revised %d)" % self.mutations, "en"),
                                      (ru + " (редакция %d)" % self.mutations, "ru")]
                rec["datestamp"] = now
            for ident in deleted:
                rec = self.records[ident]
                rec["deleted"] = True
                rec["datestamp"] = now
            return {"updated": sorted(updated), "deleted": sorted(deleted),
                    "datestamp": self.fmt(now), **self.totals()}

    def fmt(self, dt):
        return datetime_to_datestamp(dt, day_granularity=self.day_datestamps)

    def dump(self, path):
        with self.lock, open(path + ".tmp", "w", encoding="utf-8") as f:
            for ident in self.order:
                rec = self.records[ident]
                title = "" if rec["deleted"] else rec["md"]["title"][0][0]
                doi = "" if rec["deleted"] else rec["md"]["identifier"][1][0]
                f.write("%s\t%s\t%s\t%s\t%s\t%s\n" % (ident, "t" if rec["deleted"] else "f",
                                                      self.fmt(rec["datestamp"]),
                                                      ",".join(sorted(rec["sets"])), title, doi))
        os.replace(path + ".tmp", path)


class Provider:
    """pyoai's IBatchingOAI interface over a Repo."""

    def __init__(self, repo, base_url):
        self.repo = repo
        self.base_url = base_url

    def identify(self):
        earliest = min(r["datestamp"] for r in self.repo.records.values())
        return common.Identify(
            repositoryName="Example Journals (pyoai)",
            baseURL=self.base_url,
            protocolVersion="2.0",
            adminEmails=["oai-admin@journals.example.org"],
            earliestDatestamp=earliest,
            deletedRecord="persistent",
            granularity="YYYY-MM-DD" if self.repo.day else "YYYY-MM-DDThh:mm:ssZ",
            compression=["identity"],
        )

    def listMetadataFormats(self, identifier=None):
        if identifier is not None and identifier not in self.repo.records:
            raise error.IdDoesNotExistError("Unknown identifier: %s" % identifier)
        return [("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
                 "http://www.openarchives.org/OAI/2.0/oai_dc/")]

    def listSets(self, cursor=0, batch_size=10):
        return [(spec, name, None) for spec, name in SETS][cursor:cursor + batch_size]

    def _check_prefix(self, prefix):
        if prefix != "oai_dc":
            raise error.CannotDisseminateFormatError("Unknown metadata format: %s" % prefix)

    def _select(self, metadataPrefix, set=None, from_=None, until=None, cursor=0, batch_size=10):
        self._check_prefix(metadataPrefix)
        cursor, batch_size = int(cursor), int(batch_size)
        out = []
        with self.repo.lock:
            for ident in self.repo.order:
                rec = self.repo.records[ident]
                if set is not None and not any(s == set or s.startswith(set + ":") for s in rec["sets"]):
                    continue
                if from_ is not None and rec["datestamp"] < from_:
                    continue
                if until is not None and rec["datestamp"] > until:
                    continue
                out.append(rec)
            return out[cursor:cursor + batch_size]

    def _header(self, rec):
        return common.Header(None, rec["id"], rec["datestamp"], list(rec["sets"]), rec["deleted"])

    def _record(self, rec):
        md = None if rec["deleted"] else common.Metadata(None, rec["md"])
        return self._header(rec), md, None

    def listIdentifiers(self, **kw):
        return [self._header(r) for r in self._select(**kw)]

    def listRecords(self, **kw):
        return [self._record(r) for r in self._select(**kw)]

    def getRecord(self, metadataPrefix, identifier):
        self._check_prefix(metadataPrefix)
        rec = self.repo.records.get(identifier)
        if rec is None:
            raise error.IdDoesNotExistError("Unknown identifier: %s" % identifier)
        return self._record(rec)


def oai_dc_with_lang(element, md):
    """pyoai's stock `oai_dc_writer`, then xml:lang on the values that have a language.

    The stock writer takes plain strings; our map holds (value, lang) pairs, so it is given
    the strings and the languages are put on the elements it wrote, in the same order.
    """
    values = md.getMap()
    server.oai_dc_writer(element, common.Metadata(None, {k: [v for v, _ in vs] for k, vs in values.items()}))
    dc = element[-1]
    seen = {}
    for e in dc:
        name = e.tag.split("}")[1]
        idx = seen.get(name, 0)
        seen[name] = idx + 1
        lang = values[name][idx][1]
        if lang:
            e.set("{%s}lang" % NS_XML, lang)


class DayGranularityTreeServer(server.XMLTreeServer):
    """Work-around for a pyoai bug: XMLTreeServer writes every header datestamp and the
    earliestDatestamp as YYYY-MM-DDThh:mm:ssZ even when the repository declares
    YYYY-MM-DD granularity (datetime_to_datestamp's day_granularity is never passed),
    which OAI-PMH 2.0 §3.3.2 forbids. Used only with --granularity day."""

    def _outputHeader(self, element, header):
        super()._outputHeader(element, header)
        e_ds = element[-1].find(server.nsoai("datestamp"))
        e_ds.text = datetime_to_datestamp(header.datestamp(), day_granularity=True)

    def identify(self):
        envelope = super().identify()
        e = envelope.getroot().find(".//" + server.nsoai("earliestDatestamp"))
        e.text = datetime_to_datestamp(self._server.identify().earliestDatestamp(), day_granularity=True)
        return envelope


class QuietHandler(WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def make_app(repo, oai_server, state_path, delay_ms, pyoai_lock):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        qs = environ.get("QUERY_STRING", "")
        if path == "/admin/mutate":
            args = dict(parse_qsl(qs))
            summary = repo.mutate(int(args.get("update", "0")), int(args.get("delete", "0")))
            if state_path:
                repo.dump(state_path)
            body = json.dumps(summary).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/admin/expected":
            body = json.dumps(repo.totals()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path != "/oai":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            qs = environ["wsgi.input"].read(length).decode("utf-8", "replace")
        elif method != "GET":
            start_response("405 Method Not Allowed", [("Allow", "GET, POST")])
            return [b""]
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        params = {}
        for k, v in parse_qsl(qs, keep_blank_values=True):
            params[k] = v
        with pyoai_lock:
            body = oai_server.handleRequest(params)
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=3000)
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--granularity", choices=["day", "seconds"], default="seconds")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--delay-ms", type=int, default=0, help="sleep this long in every OAI-PMH request")
    p.add_argument("--state", help="write the served state as TSV here (after start and each mutation)")
    p.add_argument("--no-day-fix", action="store_true",
                   help="serve pyoai's seconds datestamps even with --granularity day (pyoai bug)")
    a = p.parse_args()

    repo = Repo(a.records, a.granularity, seconds_datestamps=a.no_day_fix)
    httpd = make_server("127.0.0.1", a.port, lambda e, s: None, server_class=ThreadingWSGIServer,
                        handler_class=QuietHandler)
    port = httpd.server_address[1]
    base_url = "http://127.0.0.1:%d/oai" % port
    provider = Provider(repo, base_url)
    registry = metadata.MetadataRegistry()
    registry.registerWriter("oai_dc", oai_dc_with_lang)
    oai = server.BatchingServer(provider, metadata_registry=registry, resumption_batch_size=a.batch_size)
    if a.granularity == "day" and not a.no_day_fix:
        oai._tree_server = DayGranularityTreeServer(oai._tree_server._server, registry)
    httpd.set_app(make_app(repo, oai, a.state, a.delay_ms, threading.Lock()))
    if a.state:
        repo.dump(a.state)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"port": port, "base_url": base_url, "granularity": a.granularity, **repo.totals()}),
          flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
