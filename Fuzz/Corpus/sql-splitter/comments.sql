/* outer /* nested; */ still; */ SELECT 1; -- trailing; comment
SELECT 2