"""The findings a statement inserts (an assessment run's upsert) go into the audit trail as one
event per assessment: the finding rows' ids, obligations, statuses and due dates, with the
run's actor. Copying each row whole cost fifteen times the write (0008); this keeps a record of
every finding created at a few per cent of it. Later changes stay one event per row."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION kakehashi_audit_findings_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := nullif(current_setting('kakehashi.audit', true), '')::jsonb;
BEGIN
    INSERT INTO governance_auditevent
        (organisation_id, "table", object_pk, action, before, after,
         actor_user_id, actor_api_key_id, context, created_at)
    SELECT
        organisation_id,
        TG_TABLE_NAME,
        'assessment:' || assessment_id,
        'insert',
        NULL,
        jsonb_build_object(
            'assessment_id', assessment_id,
            'findings', jsonb_agg(jsonb_build_object(
                'id', id, 'obligation_code', obligation_code, 'status', status,
                'due_date', due_date, 'carried_from_id', carried_from_id
            ) ORDER BY id)
        ),
        (ctx ->> 'user')::bigint,
        (ctx ->> 'api_key')::bigint,
        ctx,
        clock_timestamp()
    FROM new_rows
    GROUP BY organisation_id, assessment_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER assessments_finding_audit_inserts AFTER INSERT ON assessments_finding
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION kakehashi_audit_findings_inserted();
"""

REVERSE = """
DROP TRIGGER IF EXISTS assessments_finding_audit_inserts ON assessments_finding;
DROP FUNCTION IF EXISTS kakehashi_audit_findings_inserted();
"""


class Migration(migrations.Migration):
    dependencies = [("assessments", "0009_read_indexes")]

    operations = [migrations.RunSQL(FUNCTION, REVERSE)]
