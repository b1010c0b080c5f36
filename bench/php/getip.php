<?php
// getip.php - a minimal PHP viewer with the ORIGINAL's behaviour (the newest row of
// each family's table, in the configured time zone), for `make bench` only.
require __DIR__ . '/../config.php';   // $secret, $database, $timezone, one level up

header('Content-Type: text/plain');
date_default_timezone_set($timezone);
$db = new PDO('sqlite:' . $database);
foreach (array('log_ipv4', 'log_ipv6') as $table) {
    try {
        $row = $db->query("SELECT ip, timestamp FROM $table ORDER BY id DESC LIMIT 1")->fetch();
    } catch (Exception $e) {
        $row = false;
    }
    if ($row) {
        echo date('Y-m-d H:i:s', $row['timestamp']) . ' - ' . $row['ip'] . "\n";
    }
}
