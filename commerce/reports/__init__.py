"""Reports: sales over time, rankings, refunds by reason, stock value.

Reads only, above orders, promotions and inventory in the layers: every figure is summed by the
database (GROUP BY over the period's buckets), never by loading orders into Python.
`periods` holds the date ranges, their comparison and buckets; `sales`, `rankings` and `stock`
the reports; `csv_export` their CSV.
"""
