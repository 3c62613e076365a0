# Shared by run-app.sh and run-tests.sh: idempotent set-up steps (quick when already done).

setup_python() {  # $1: the extra to install (training, dev)
    local python=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$1]"
}

setup_system_packages() {  # the Debian packages whose commands are missing (needs root or sudo)
    local missing=()
    for pkg in "$@"; do
        case $pkg in
            nodejs) command -v node >/dev/null || missing+=(nodejs) ;;
            webkit2gtk-driver) command -v WebKitWebDriver >/dev/null || missing+=(webkit2gtk-driver) ;;
            xvfb) command -v Xvfb >/dev/null || missing+=(xvfb) ;;
            *) command -v "$pkg" >/dev/null || missing+=("$pkg") ;;
        esac
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

setup_npm_packages() {  # $1: a folder with package.json and package-lock.json: exactly the lock, each integrity checked
    if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules" ]; then
        npm ci --prefix "$1" --no-audit --no-fund --ignore-scripts --silent
        touch "$1/node_modules"
    fi
}

update_apt_unless_it_knows() {  # $1: a Debian package that `apt-get download` must find (a test fetches it)
    command -v apt-cache >/dev/null || return 0
    apt-cache show "$1" >/dev/null 2>&1 && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
}
