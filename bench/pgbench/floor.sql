-- floor: the cheapest prepared statement.
SELECT 1;
