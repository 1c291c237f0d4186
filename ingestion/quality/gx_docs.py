"""How GX Data Docs show a check that warned: Great Expectations marks a validation Failed when any expectation
failed, but the project's drift policy (``added: warn``) and warning-severity checks make some of those failures a
warning. The worker records the run's judgement on each stored result (``meta.judgement``: pass, warn or fail);
these renderers, plugged into GX's site builder by its own ``module_name``/``class_name`` settings, show a warned
validation as "Warning" on its page and in the index. Loaded in the GX worker only."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer
from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder
from great_expectations.render.renderer.site_index_page_renderer import SiteIndexPageRenderer

JUDGEMENT = "judgement"  # the key in a validation result's meta
WARNING = "warning"  # what the index builder passes instead of False for a warned validation
WARNING_ICON = '<i class="fas fa-exclamation-triangle text-warning" aria-hidden="true"></i>'


class ResultsPage(ValidationResultsPageRenderer):
    """A validation's page: its overview says Warning for a warned validation."""

    @classmethod
    def _render_validation_header(cls, validation_results: Any) -> Any:
        header = super()._render_validation_header(validation_results)
        judgement = (validation_results.meta or {}).get(JUDGEMENT)
        if not validation_results.success and judgement in ("warn", "pass"):
            params = header.subheader.string_template["params"]
            if judgement == "warn":
                params["success"], params["html_success_icon"] = "Warning", WARNING_ICON
            else:  # a failure the policy ignores
                params["success"] = "Succeeded (the drift policy ignores this change)"
        return header


class SiteIndex(DefaultSiteIndexBuilder):
    """The index: a warned validation's row carries WARNING instead of False."""

    def _add_validations_to_index_links(self, index_links_dict: OrderedDict, keys: list) -> None:
        super()._add_validations_to_index_links(index_links_dict, keys)
        for link in index_links_dict.get("validations_links", []):
            if link.get("validation_success") is not False:
                continue
            result = self.data_context.get_validation_result(
                batch_identifier=link["batch_identifier"],
                expectation_suite_name=link["expectation_suite_name"],
                run_id=link["run_id"],
                validation_results_store_name=self.source_stores.get("validations"),
            )
            judgement = (getattr(result, "meta", None) or {}).get(JUDGEMENT)
            if judgement == "warn":
                link["validation_success"] = WARNING
            elif judgement == "pass":
                link["validation_success"] = True


class IndexPage(SiteIndexPageRenderer):
    """The index page: a warning icon and "Warning" for the rows the index builder marked."""

    @classmethod
    def _render_validation_success_cell(cls, validation_success: Any) -> Any:
        cell = super()._render_validation_success_cell(validation_success)
        if validation_success == WARNING:
            styling = cell.string_template["styling"]["params"]["validation_success"]
            styling["classes"] = ["fas", "fa-exclamation-triangle", "text-warning", "ge-warning-icon"]
        return cell

    @classmethod
    def _generate_validation_results_link_table(cls, index_links_dict: OrderedDict) -> Any:
        warned = {
            link.get("filepath")
            for link in index_links_dict.get("validations_links", [])
            if link.get("validation_success") == WARNING
        }
        table = super()._generate_validation_results_link_table(index_links_dict)
        for row in table.table_data:
            if row.get("_table_row_link_path") in warned:
                row["_validation_success_text"] = "Warning"
        return table
