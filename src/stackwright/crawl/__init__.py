"""Crawling: fetch a list of repositories politely and resumably into a folder a build can read.

``listing`` parses and checks the list, ``fetch`` makes one shallow bare copy under caps, ``state``
keeps the resumable record and the folder layout, ``run`` drives the concurrent crawl and its report.
A crawled folder is a build source (stackwright.sources.crawl): each repository at its fetched
commit, with the host's stars, forks and license as record columns.
"""

from __future__ import annotations

from stackwright.crawl.run import DEFAULT_HOST, CrawlError, CrawlReport, CrawlSettings, crawl

__all__ = ["DEFAULT_HOST", "CrawlError", "CrawlReport", "CrawlSettings", "crawl"]
