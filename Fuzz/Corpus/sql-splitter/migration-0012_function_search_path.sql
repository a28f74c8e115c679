-- pg_restore (and pg_dump's scripts) run with an empty search_path. A CHECK
-- constraint is restored with its table, before the data, so a function it
-- calls must find its helpers without one: enrollment_endpoint_list_valid()
-- called enrollment_endpoint_valid() unqualified, and a plain pg_restore of a
-- certctl backup stopped at the first est_labels row. Every certctl function
-- now carries its own search_path (pinned, as Postgres advises for functions).
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.prokind = 'f'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_catalog', fn, current_schema());
    END LOOP;
END;
$$;
