"""The dashboard's pages: server-rendered HTML from templates, nothing from the internet.

:mod:`okrsync.service.web` serves them; everything here is pure rendering of
views the store gave, so it is tested without a server as well as in a browser.
"""
