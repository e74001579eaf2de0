#!/usr/bin/env python3
"""Uploads one blob of a Kluis package with tuspy, an independent tus 1.0
client, in small chunks so that the upload takes several PATCH requests.

Usage: tuspy_upload.py UPLOAD_URL TOKEN PACKAGE_ID BLOB_INDEX FILE
Prints the upload URL the server gave.
"""
import sys

from tusclient import client

upload_url, token, package_id, blob, path = sys.argv[1:6]
tus = client.TusClient(upload_url, headers={"Authorization": f"Bearer {token}"})
uploader = tus.uploader(path, chunk_size=256 * 1024, metadata={"package": package_id, "blob": blob})
uploader.upload()
print(uploader.url)
