-- Which formula made the codes of each flow version: start-up and
-- `uic lint --db` look here to refuse a formula changed without a new version.
CREATE INDEX uic_records_flow_formula ON uic_records (flow_id, flow_version, formula_fingerprint);
