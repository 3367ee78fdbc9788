"""Gunicorn reads this file from the working directory (the repo root, /app in the image).

The access log keeps the path and drops the query string: search terms are often patient names
(issue 17 item 10). No referer either, for the same reason.
"""

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
