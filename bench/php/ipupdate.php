<?php
// ipupdate.php - a minimal PHP update handler with the ORIGINAL's behaviour, written
// from the facts of its wire format and database, for `make bench` only: the peer
// that our CGI start-up is measured against. Do not deploy it: it keeps the
// original's weaknesses on purpose (plain == on MACs, no window, errors as 200,
// addresses classified by counting dots and colons), as they cost what they cost.
require __DIR__ . '/../config.php';   // $secret, $database, $timezone, one level up

header('Content-Type: text/plain');
$type = isset($_POST['type']) ? $_POST['type'] : '';
$ts = isset($_POST['ts']) ? $_POST['ts'] : '';

if ($type === 'ip') {
    $message = 'ip=' . $_SERVER['REMOTE_ADDR'] . '&ts=' . $ts;
    echo $message . '&h=' . hash_hmac('sha256', $message, $secret);
    exit;
}
if ($type !== 'update') {
    echo 'Error: unknown type';
    exit;
}
$ip = isset($_POST['ip']) ? $_POST['ip'] : '';
$name = isset($_POST['name']) ? $_POST['name'] : '';
$h = isset($_POST['h']) ? $_POST['h'] : '';
$message = 'type=update&ip=' . $ip . '&name=' . $name . '&ts=' . $ts;
if (hash_hmac('sha256', $message, $secret) != $h) {
    echo 'Error: Invalid hash';
    exit;
}
if (substr_count($ip, '.') == 3) {
    $table = 'log_ipv4';
} elseif (substr_count($ip, ':') >= 2) {
    $table = 'log_ipv6';
} else {
    echo 'Error: Invalid IP';
    exit;
}
$db = new PDO('sqlite:' . $database);
$db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$db->exec("CREATE TABLE IF NOT EXISTS $table (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR,
           name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT)");
$query = $db->prepare("SELECT id, ip, timestamp FROM $table WHERE name = ? ORDER BY id DESC LIMIT 1");
$query->execute(array($name));
$newest = $query->fetch(PDO::FETCH_ASSOC);
if ($newest && $newest['ip'] === $ip) {
    if ((int)$ts <= (int)$newest['timestamp']) {
        echo 'Error: Replayed timestamp';
        exit;
    }
    $db->prepare("UPDATE $table SET timestamp = ? WHERE id = ?")->execute(array((int)$ts, $newest['id']));
    echo 'OK: Timestamp updated';
} else {
    $db->prepare("INSERT INTO $table (ip, name, first_seen, timestamp) VALUES (?, ?, ?, ?)")
       ->execute(array($ip, $name, (int)$ts, (int)$ts));
    echo 'OK: New IP updated';
}
