WITH l0 AS (
  SELECT
    `braf`,
    `centre`,
    `done_action`,
    `done_regimen`,
    `ecog`,
    `liver_met_count`,
    `liver_mets`,
    `liver_resectability`,
    `lung_mets`,
    `metastatic`,
    `metastatic_organ_count`,
    `ned`,
    `peritoneal_mets`,
    `ras`,
    `sidedness`,
    EXTRACT(YEAR FROM `decision_date`) AS `year`,
    COUNT(*) AS `n`
  FROM cohort
  GROUP BY
    `braf`,
    `centre`,
    `done_action`,
    `done_regimen`,
    `ecog`,
    `liver_met_count`,
    `liver_mets`,
    `liver_resectability`,
    `lung_mets`,
    `metastatic`,
    `metastatic_organ_count`,
    `ned`,
    `peritoneal_mets`,
    `ras`,
    `sidedness`,
    EXTRACT(YEAR FROM `decision_date`)
), l1 AS (
  SELECT
    `centre`,
    `done_action`,
    `done_regimen`,
    `n`,
    `year`,
    (
      `metastatic` = TRUE
    ) AND (
      NOT (
        `ned` = TRUE
      )
    ) AS `c0`,
    `liver_resectability` = 'resectable' AS `c1`,
    `ecog` <= 1 AS `c2`,
    (
      `liver_resectability` IN ('potentially_resectable', 'unresectable')
      OR (
        `liver_met_count` > 4
      )
    ) AS `c3`,
    `ras` = 'wild_type' AS `c4`,
    `sidedness` = 'left' AS `c5`,
    NOT `braf` IS NULL AS `c6`,
    CASE
      WHEN `metastatic` IS NULL
      THEN 'unknown'
      WHEN `metastatic` = FALSE
      THEN 'none'
      WHEN `metastatic_organ_count` > 1
      THEN 'multiple'
      WHEN `lung_mets` = TRUE
      THEN 'lung'
      WHEN `liver_mets` = TRUE
      THEN 'liver'
      WHEN `peritoneal_mets` = TRUE
      THEN 'peritoneum'
      ELSE 'other'
    END AS `site`
  FROM l0
), l2 AS (
  SELECT
    `c1`,
    `c2`,
    `c3`,
    `c4`,
    `c5`,
    `c6`,
    `centre`,
    `done_action`,
    `done_regimen`,
    `n`,
    `site`,
    `year`,
    `c0` AS `t0`,
    TRUE AS `t1`
  FROM l1
), l3 AS (
  SELECT
    `centre`,
    `done_action`,
    `done_regimen`,
    `n`,
    `site`,
    `t0`,
    `year`,
    `t0` AND `c1` AND `c2` AS `r0`,
    `t0` AND `c3` AS `r1`,
    `t1` AND `c4` AND `c5` AND `c6` AS `r3`
  FROM l2
), l4 AS (
  SELECT
    `centre`,
    `done_action`,
    `done_regimen`,
    `n`,
    `r0`,
    `r1`,
    `r3`,
    `site`,
    `t0`,
    `year`,
    COALESCE(`t0`, FALSE)
    AND (
      NOT (
        COALESCE(`r0`, FALSE) OR COALESCE(`r1`, FALSE)
      )
    ) AS `r2`,
    COALESCE(`done_action` IN ('resect_liver_metastases'), FALSE) AS `mar0`,
    COALESCE(`done_action` IN ('mdt_discussion'), FALSE) AS `mar2`,
    COALESCE(`done_regimen` IN ('FOLFOXIRI'), FALSE) AS `mgr1`,
    COALESCE(`done_regimen` IN ('FOLFOX_PANITUMUMAB'), FALSE) AS `mgr3`
  FROM l3
), l5 AS (
  SELECT
    `centre`,
    `done_action`,
    `done_regimen`,
    `mar0`,
    `mar2`,
    `mgr1`,
    `mgr3`,
    `n`,
    `r0`,
    `r1`,
    `r2`,
    `r3`,
    `site`,
    `t0`,
    `year`
  FROM l4
), l6 AS (
  SELECT
    `centre`,
    `done_action`,
    `done_regimen`,
    `n`,
    `site`,
    `year`,
    (
      (
        COALESCE(`r0`, FALSE) AND `mar0`
      ) OR (
        COALESCE(`r2`, FALSE) AND `mar2`
      )
    ) AS `sup_a`,
    (
      (
        (
          `r0` IS NULL
        ) AND `mar0`
      )
      OR (
        (
          `t0` IS NULL
        ) AND `mar2`
      )
    ) AS `open_a`,
    (
      (
        COALESCE(`r1`, FALSE) AND `mgr1`
      ) OR (
        COALESCE(`r3`, FALSE) AND `mgr3`
      )
    ) AS `sup_g`,
    (
      (
        (
          `r1` IS NULL
        ) AND `mgr1`
      )
      OR (
        (
          `r3` IS NULL
        ) AND `mgr3`
      )
    ) AS `open_g`,
    (
      (
        COALESCE(`r0`, FALSE) OR (
          `r0` IS NULL
        )
      )
      OR (
        COALESCE(`r1`, FALSE) OR (
          `r1` IS NULL
        )
      )
      OR (
        COALESCE(`r2`, FALSE) OR (
          `t0` IS NULL
        )
      )
    ) AS `activet0`,
    (
      COALESCE(`r3`, FALSE) OR (
        `r3` IS NULL
      )
    ) AS `activet1`
  FROM l5
), l7 AS (
  SELECT
    `centre`,
    `done_action`,
    `done_regimen`,
    `n`,
    `open_a`,
    `open_g`,
    `site`,
    `sup_a`,
    `sup_g`,
    `year`,
    (
      `activet0` OR `activet1`
    ) AS `treated`
  FROM l6
), l8 AS (
  SELECT
    `centre`,
    `n`,
    `site`,
    `year`,
    CASE
      WHEN NOT `treated`
      THEN 4
      WHEN (
        `done_action` IS NULL
      ) AND (
        `done_regimen` IS NULL
      )
      THEN 3
      WHEN (
        (
          (
            NOT `done_action` IS NULL
          ) AND (
            NOT `sup_a`
          ) AND (
            NOT `open_a`
          )
        )
        OR (
          (
            NOT `done_regimen` IS NULL
          ) AND (
            NOT `sup_g`
          ) AND (
            NOT `open_g`
          )
        )
      )
      THEN 2
      WHEN (
        (
          `done_action` IS NULL
        ) OR `sup_a`
      )
      AND (
        (
          `done_regimen` IS NULL
        ) OR `sup_g`
      )
      THEN 1
      ELSE 3
    END AS `status`
  FROM l7
), l9 AS (
  SELECT
    `centre`,
    `n`,
    `site`,
    `status`,
    `year`
  FROM l8
), l10 AS (
  SELECT
    `centre`,
    `n`,
    `site`,
    `status`,
    `year`
  FROM l9
)
SELECT
  `site`,
  `year`,
  `centre`,
  `status`,
  SUM(`n`) AS `decisions`
FROM l10
GROUP BY
  `site`,
  `year`,
  `centre`,
  `status`
