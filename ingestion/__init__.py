"""Ingestion side of the project: declared sources, readers, dlt pipelines and the CLI."""

import warnings

# With the spark extra installed, Great Expectations imports pyspark for its optional Spark support, and pyspark
# 4.3 warns on import that its pandas API (pyspark.pandas, pandas UDFs) does not fully support pandas 3. The
# project uses neither: Spark runs only SQL, sent by dbt-spark; pandas 3 is what GX's pandas batches need here.
warnings.filterwarnings("ignore", message=r"PySpark does not yet fully support pandas >= 3", category=FutureWarning)
