WITH l0 AS (
  SELECT
    *,
    EXTRACT(YEAR FROM "decision_date") AS "year"
  FROM cohort
), l1 AS (
  SELECT
    "braf",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "ned",
    "patient_id",
    "ras",
    "sidedness",
    "year",
    (
      "metastatic" = TRUE
    ) AND (
      NOT (
        "ned" = TRUE
      )
    ) AS "c0",
    "liver_resectability" = 'resectable' AS "c1",
    "ecog" <= 1 AS "c2",
    (
      "liver_resectability" IN ('potentially_resectable', 'unresectable')
      OR (
        "liver_met_count" > 4
      )
    ) AS "c3",
    "ras" = 'wild_type' AS "c4",
    "sidedness" = 'left' AS "c5",
    NOT "braf" IS NULL AS "c6",
    "ras" IS NULL AS "c7",
    CASE
      WHEN "metastatic" IS NULL
      THEN 'unknown'
      WHEN "metastatic" = FALSE
      THEN 'none'
      WHEN "metastatic_organ_count" > 1
      THEN 'multiple'
      WHEN "lung_mets" = TRUE
      THEN 'lung'
      WHEN "liver_mets" = TRUE
      THEN 'liver'
      WHEN "peritoneal_mets" = TRUE
      THEN 'peritoneum'
      ELSE 'other'
    END AS "site"
  FROM l0
), l2 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "c7",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "ned",
    "patient_id",
    "ras",
    "sidedness",
    "site",
    "year",
    "c0" AS "t0",
    TRUE AS "t1"
  FROM l1
), l3 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "ned",
    "patient_id",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    "t0" AND "c1" AND "c2" AS "r0",
    "t0" AND "c3" AS "r1",
    "t1" AND "c4" AND "c5" AND "c6" AS "r3",
    "t1" AND "c7" AS "r4"
  FROM l2
), l4 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "ned",
    "patient_id",
    "r0",
    "r1",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    COALESCE("t0", FALSE)
    AND (
      NOT (
        COALESCE("r0", FALSE) OR COALESCE("r1", FALSE)
      )
    ) AS "r2",
    COALESCE("done_action" IN ('resect_liver_metastases'), FALSE) AS "mar0",
    COALESCE("done_action" IN ('mdt_discussion'), FALSE) AS "mar2",
    COALESCE("done_regimen" IN ('FOLFOXIRI'), FALSE) AS "mgr1",
    COALESCE("done_regimen" IN ('FOLFOX_PANITUMUMAB'), FALSE) AS "mgr3"
  FROM l3
), l5 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "ned",
    "patient_id",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year"
  FROM l4
), l6 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "ned",
    "patient_id",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "t0",
    "year",
    (
      (
        COALESCE("r0", FALSE) AND "mar0"
      ) OR (
        COALESCE("r2", FALSE) AND "mar2"
      )
    ) AS "sup_a",
    (
      (
        (
          "r0" IS NULL
        ) AND "mar0"
      )
      OR (
        (
          "t0" IS NULL
        ) AND "mar2"
      )
    ) AS "open_a",
    (
      (
        COALESCE("r1", FALSE) AND "mgr1"
      ) OR (
        COALESCE("r3", FALSE) AND "mgr3"
      )
    ) AS "sup_g",
    (
      (
        (
          "r1" IS NULL
        ) AND "mgr1"
      )
      OR (
        (
          "r3" IS NULL
        ) AND "mgr3"
      )
    ) AS "open_g",
    (
      (
        COALESCE("r0", FALSE) OR (
          "r0" IS NULL
        )
      )
      OR (
        COALESCE("r1", FALSE) OR (
          "r1" IS NULL
        )
      )
      OR (
        COALESCE("r2", FALSE) OR (
          "t0" IS NULL
        )
      )
    ) AS "activet0",
    (
      COALESCE("r3", FALSE) OR (
        "r3" IS NULL
      )
    ) AS "activet1",
    (
      CASE WHEN COALESCE("r0", FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE("r1", FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE("r2", FALSE) THEN 1 ELSE 0 END
    ) > 1 AS "ht0"
  FROM l5
), l7 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "ht0",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "ned",
    "open_a",
    "open_g",
    "patient_id",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "sup_a",
    "sup_g",
    "t0",
    "year",
    (
      "activet0" OR "activet1"
    ) AS "treated"
  FROM l6
), l8 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "ht0",
    "liver_met_count",
    "liver_resectability",
    "mar0",
    "mar2",
    "metastatic",
    "mgr1",
    "mgr3",
    "ned",
    "patient_id",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "sup_a",
    "sup_g",
    "t0",
    "year",
    CASE
      WHEN NOT "treated"
      THEN 4
      WHEN (
        "done_action" IS NULL
      ) AND (
        "done_regimen" IS NULL
      )
      THEN 3
      WHEN (
        (
          (
            NOT "done_action" IS NULL
          ) AND (
            NOT "sup_a"
          ) AND (
            NOT "open_a"
          )
        )
        OR (
          (
            NOT "done_regimen" IS NULL
          ) AND (
            NOT "sup_g"
          ) AND (
            NOT "open_g"
          )
        )
      )
      THEN 2
      WHEN (
        (
          "done_action" IS NULL
        ) OR "sup_a"
      )
      AND (
        (
          "done_regimen" IS NULL
        ) OR "sup_g"
      )
      THEN 1
      ELSE 3
    END AS "status"
  FROM l7
), l9 AS (
  SELECT
    "braf",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ecog",
    "ht0",
    "liver_met_count",
    "liver_resectability",
    "metastatic",
    "ned",
    "patient_id",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "ras",
    "sidedness",
    "site",
    "status",
    "t0",
    "year",
    CASE
      WHEN "status" = 3
      THEN (
        "r0" IS NULL
      )
      AND (
        (
          (
            NOT "done_action" IS NULL
          ) AND (
            NOT "sup_a"
          )
        ) AND "mar0"
      )
      ELSE FALSE
    END AS "wr0",
    CASE
      WHEN "status" = 3
      THEN (
        "r1" IS NULL
      )
      AND (
        (
          (
            NOT "done_regimen" IS NULL
          ) AND (
            NOT "sup_g"
          )
        ) AND "mgr1"
      )
      ELSE FALSE
    END AS "wr1",
    CASE
      WHEN "status" = 3
      THEN (
        "t0" IS NULL
      )
      AND (
        (
          (
            NOT "done_action" IS NULL
          ) AND (
            NOT "sup_a"
          )
        ) AND "mar2"
      )
      ELSE FALSE
    END AS "wr2",
    CASE
      WHEN "status" = 3
      THEN (
        "r3" IS NULL
      )
      AND (
        (
          (
            NOT "done_regimen" IS NULL
          ) AND (
            NOT "sup_g"
          )
        ) AND "mgr3"
      )
      ELSE FALSE
    END AS "wr3"
  FROM l8
), l10 AS (
  SELECT
    "centre",
    "decision_id",
    "done_action",
    "done_regimen",
    "ht0",
    "patient_id",
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "site",
    "status",
    "year",
    CASE
      WHEN "status" = 3
      THEN (
        "braf" IS NULL
      ) AND (
        "wr3" AND (
          "c6" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_braf",
    CASE
      WHEN "status" = 3
      THEN (
        "ecog" IS NULL
      ) AND (
        "wr0" AND (
          "c2" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_ecog",
    CASE
      WHEN "status" = 3
      THEN (
        "liver_met_count" IS NULL
      ) AND (
        "wr1" AND (
          "c3" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_liver_met_count",
    CASE
      WHEN "status" = 3
      THEN (
        "liver_resectability" IS NULL
      )
      AND (
        (
          "wr0" AND (
            "c1" IS NULL
          )
        ) OR (
          "wr1" AND (
            "c3" IS NULL
          )
        )
      )
      ELSE FALSE
    END AS "x_liver_resectability",
    CASE
      WHEN "status" = 3
      THEN (
        "metastatic" IS NULL
      )
      AND (
        (
          "wr0" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr1" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr2" AND (
            "t0" IS NULL
          )
        )
      )
      ELSE FALSE
    END AS "x_metastatic",
    CASE
      WHEN "status" = 3
      THEN (
        "ned" IS NULL
      )
      AND (
        (
          "wr0" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr1" AND (
            "t0" IS NULL
          )
        )
        OR (
          "wr2" AND (
            "t0" IS NULL
          )
        )
      )
      ELSE FALSE
    END AS "x_ned",
    CASE
      WHEN "status" = 3
      THEN (
        "ras" IS NULL
      ) AND (
        "wr3" AND (
          "c4" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_ras",
    CASE
      WHEN "status" = 3
      THEN (
        "sidedness" IS NULL
      ) AND (
        "wr3" AND (
          "c5" IS NULL
        )
      )
      ELSE FALSE
    END AS "x_sidedness",
    (
      "status" = 3
    )
    AND (
      (
        "done_action" IS NULL
      ) AND (
        "done_regimen" IS NULL
      )
    ) AS "x_done"
  FROM l9
)
SELECT
  "decision_id" AS "decision_id",
  "patient_id" AS "patient_id",
  "centre" AS "centre",
  "year" AS "year",
  "site" AS "site",
  "done_action" AS "done_action",
  "done_regimen" AS "done_regimen",
  CONCAT_WS(
    ',',
    CASE WHEN COALESCE("r0", FALSE) THEN 'mini.route.resect' END,
    CASE WHEN COALESCE("r1", FALSE) THEN 'mini.route.convert' END,
    CASE WHEN COALESCE("r2", FALSE) THEN 'mini.route.mdt' END,
    CASE WHEN COALESCE("r3", FALSE) THEN 'mini.biology.egfr' END,
    CASE WHEN COALESCE("r4", FALSE) THEN 'mini.biology.test' END
  ) AS "fired_rows",
  CONCAT_WS(
    ',',
    CASE WHEN "r0" IS NULL THEN 'mini.route.resect' END,
    CASE WHEN "r1" IS NULL THEN 'mini.route.convert' END,
    CASE WHEN "r3" IS NULL THEN 'mini.biology.egfr' END,
    CASE WHEN "r4" IS NULL THEN 'mini.biology.test' END
  ) AS "possible_rows",
  CONCAT_WS(
    ',',
    CASE WHEN COALESCE("r1", FALSE) THEN 'FOLFOXIRI' END,
    CASE WHEN COALESCE("r3", FALSE) THEN 'FOLFOX_PANITUMUMAB' END,
    CASE WHEN COALESCE("r2", FALSE) THEN 'mdt_discussion' END,
    CASE WHEN COALESCE("r0", FALSE) THEN 'resect_liver_metastases' END
  ) AS "recommended",
  CONCAT_WS(
    ',',
    CASE WHEN COALESCE("x_braf", FALSE) THEN 'braf' END,
    CASE WHEN COALESCE("x_done", FALSE) THEN 'done_action' END,
    CASE WHEN COALESCE("x_done", FALSE) THEN 'done_regimen' END,
    CASE WHEN COALESCE("x_ecog", FALSE) THEN 'ecog' END,
    CASE WHEN COALESCE("x_liver_met_count", FALSE) THEN 'liver_met_count' END,
    CASE WHEN COALESCE("x_liver_resectability", FALSE) THEN 'liver_resectability' END,
    CASE WHEN COALESCE("x_metastatic", FALSE) THEN 'metastatic' END,
    CASE WHEN COALESCE("x_ned", FALSE) THEN 'ned' END,
    CASE WHEN COALESCE("x_ras", FALSE) THEN 'ras' END,
    CASE WHEN COALESCE("x_sidedness", FALSE) THEN 'sidedness' END
  ) AS "missing",
  CONCAT_WS(',', CASE WHEN COALESCE("ht0", FALSE) THEN 'mini.route' END) AS "hit_violations",
  CASE
    WHEN "status" = 1
    THEN 'concordant'
    WHEN "status" = 2
    THEN 'discordant'
    WHEN "status" = 3
    THEN 'not_decidable'
    WHEN "status" = 4
    THEN 'not_covered'
  END AS "status"
FROM l10
