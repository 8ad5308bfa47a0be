"""Site settings › Imports and exports: the Plausible zip as a download and as an upload, for admins only.

The same code as ``crumbless export plausible`` and ``crumbless import plausible``
(``collector.transfer``): the zip is checked whole before anything is written, added in one
transaction, recorded in the import ledger, and refused over an earlier import unless the admin
asks to replace it. The upload is the dashboard's only form that carries a file, so it is read
here with its own bounds (``collector.bodylimit.WIDER`` lets its body be that large) rather
than by the guard every other form goes through, which takes no file.
"""

from __future__ import annotations

import asyncio
import io
from datetime import date

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector.bodylimit import MAX_FORM_FIELDS, WIDER
from collector.localtime import date_of
from collector.sites import Site
from collector.store import StoreError
from collector.transfer.export import export_zip
from collector.transfer.plausible_zip import BadImport, read_zip
from dashboard import csrf
from dashboard.admin import site_admin_page
from dashboard.auth import Auth, current
from dashboard.context import dashboard, store
from dashboard.i18n import N_, gettext
from dashboard.templates import error, render

IMPORT_PATH = "/sites/{website_id}/import/plausible"
MAX_UPLOAD = WIDER[IMPORT_PATH]
FIRST_DAY = date(1970, 1, 1)


async def _page(request: Request, site: Site, message: str = "", status: int = 200) -> Response:
    records = await store(request).imports(site.id)
    imports = [
        {
            "id": r.id,
            "source": r.source,
            "first": date_of(r.first_day),
            "last": date_of(r.last_day),
            "when": r.created_at,
        }
        for r in records
    ]
    done = request.query_params.get("imported", "")
    return render(request, "transfer.html", status=status, site=site, imports=imports, message=message, imported=done)


@site_admin_page
async def transfer_page(request: Request, user: Auth, site: Site) -> Response:
    return await _page(request, site)


@site_admin_page
async def export_download(request: Request, user: Auth, site: Site) -> Response:
    """The site's whole history (or ``?from=&to=``) as a Plausible CSV export zip."""
    today = dashboard(request).today(site)
    try:
        first = date.fromisoformat(request.query_params.get("from") or FIRST_DAY.isoformat())
        last = date.fromisoformat(request.query_params.get("to") or today.isoformat())
    except ValueError:
        return await _page(request, site, gettext("Give dates as YYYY-MM-DD."), 400)
    buffer = io.BytesIO()
    await export_zip(store(request), site, first, last, buffer, quiet=True)
    name = f"{site.domain.replace('.', '_')}_{today:%Y%m%d}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def import_upload(request: Request) -> Response:
    """An admin's upload of a Plausible export zip into the site named in the URL."""
    auth = await current(request)
    if auth is None:
        return await error(request, 403, N_("Your session has ended. Log in again."))
    request.state.auth = auth
    if not auth.user.is_admin:
        return await error(request, 403, N_("Only an admin can do this."))
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_UPLOAD)
    public_url = dashboard(request).settings.public_url
    if not csrf.same_origin(request, public_url) or not csrf.token_matches(form.get(csrf.FIELD), auth.csrf):
        return await error(
            request, 403, "This form has expired or did not come from this dashboard. Reload the page and try again."
        )
    site = await auth.site(request, request.path_params["website_id"])
    if site is None:
        return await error(request, 404, N_("There is no such site."))
    upload = form.get("zip")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(request, site, gettext("Choose the zip that Plausible exported."), 400)
    label = upload.filename.rsplit("/", 1)[-1][:200]
    today = dashboard(request).today(site)
    try:
        imported = await asyncio.to_thread(read_zip, upload.file, label, site.id, today, True)
        record = await store(request).add_import(
            site.id,
            f"plausible {label}",
            (imported.first_day, imported.last_day),
            imported.batch,
            form.get("replace") == "on",
        )
    except (BadImport, StoreError) as exc:
        problem = gettext("Nothing was imported: {problem}").format(problem=str(exc).replace("--replace", "“replace”"))
        return await _page(request, site, problem, 400)
    finally:
        await upload.close()
    return RedirectResponse(f"/sites/{site.website_id}/imports?imported={record.id}", status_code=303)
