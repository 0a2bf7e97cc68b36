"""Reports: sales over time, products and collections, promotions and codes, refunds by reason,
stock value; each with its CSV.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.permissions import Route
from console.reports import views

ROUTES = [
    Route("/reports", views.report_sales, "reports.view"),
    Route("/reports/sales.csv", views.report_sales_csv, "reports.view"),
    Route("/reports/products", views.report_products, "reports.view"),
    Route("/reports/products.csv", views.report_products_csv, "reports.view"),
    Route("/reports/promotions", views.report_promotions, "reports.view"),
    Route("/reports/promotions.csv", views.report_promotions_csv, "reports.view"),
    Route("/reports/refunds", views.report_refunds, "reports.view"),
    Route("/reports/refunds.csv", views.report_refunds_csv, "reports.view"),
    Route("/reports/stock", views.report_stock, "reports.view"),
    Route("/reports/stock.csv", views.report_stock_csv, "reports.view"),
]
