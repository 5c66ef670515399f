"""Harvest an OAI-PMH repository completely with Sickle (a third-party harvester, not
written for sheaf) and print one CSV row per record: identifier, deleted (t/f), first
dc:title.

Used by scripts/e2e-third-party.sh against sheaf's own /oai. (pyoai's client would do as
well, but it calls an lxml API that lxml 6 removed.)
Usage: harvest_sheaf.py BASE_URL [METADATA_PREFIX]
"""

import csv
import sys

from sickle import Sickle


def main():
    base_url = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else "oai_dc"
    client = Sickle(base_url, max_retries=3)
    identify = client.Identify()
    print(
        "identify: %s, granularity %s, deletedRecord %s"
        % (identify.repositoryName, identify.granularity, identify.deletedRecord),
        file=sys.stderr,
    )
    out = csv.writer(sys.stdout, lineterminator="\n")
    n = 0
    for rec in client.ListRecords(metadataPrefix=prefix, ignore_deleted=False):
        titles = [] if rec.deleted else rec.metadata.get("title", [])
        out.writerow([rec.header.identifier, "t" if rec.deleted else "f", titles[0] if titles else ""])
        n += 1
    print("harvested %d records" % n, file=sys.stderr)


if __name__ == "__main__":
    main()
